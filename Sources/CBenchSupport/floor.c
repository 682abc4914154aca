// The bench's floor: the least a pub/sub fan-out server can do on this machine. One thread,
// epoll, RESP2 multibulk requests only; PUBLISH looks its channel up in an open-addressing
// table of flat subscriber arrays; a reply or message is appended to the client's output buffer
// and every client with output gets one write(2) after each epoll wakeup (as redis-server does
// in beforeSleep). No limits, no persistence, no monitoring: a reference, never a product.
#define _GNU_SOURCE
#include "CBenchSupport.h"
#include <errno.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    char *data;
    size_t length;
    size_t capacity;
} buffer_t;

typedef struct client {
    int fd;
    buffer_t input;
    buffer_t output;
    size_t written;
    int pending;
    int waiting_writable;
    int subscriptions;
} client_t;

typedef struct {
    char *name;
    size_t length;
    uint64_t hash;
    client_t **subscribers;
    int count;
    int capacity;
} channel_t;

typedef struct {
    client_t *client;
    char *pattern;
} pattern_t;

static channel_t *table;
static size_t table_size = 1024;
static size_t table_used;
static pattern_t *patterns;
static int pattern_count, pattern_capacity;
static client_t **pending;
static int pending_count, pending_capacity;
static int epoll_fd;

static void *grow(void *array, int *capacity, size_t element) {
    *capacity = *capacity ? *capacity * 2 : 16;
    void *grown = realloc(array, (size_t)*capacity * element);
    if (!grown) abort();
    return grown;
}

static void reserve(buffer_t *buffer, size_t extra) {
    if (buffer->length + extra <= buffer->capacity) return;
    size_t capacity = buffer->capacity ? buffer->capacity : 16384;
    while (capacity < buffer->length + extra) capacity *= 2;
    buffer->data = realloc(buffer->data, capacity);
    if (!buffer->data) abort();
    buffer->capacity = capacity;
}

static void append(buffer_t *buffer, const char *bytes, size_t length) {
    reserve(buffer, length);
    memcpy(buffer->data + buffer->length, bytes, length);
    buffer->length += length;
}

static void append_header(buffer_t *buffer, char type, long long value) {
    reserve(buffer, 24);
    buffer->length += (size_t)sprintf(buffer->data + buffer->length, "%c%lld\r\n", type, value);
}

static void append_bulk(buffer_t *buffer, const char *bytes, size_t length) {
    append_header(buffer, '$', (long long)length);
    append(buffer, bytes, length);
    append(buffer, "\r\n", 2);
}

static void mark_pending(client_t *client) {
    if (client->pending) return;
    if (pending_count == pending_capacity) pending = grow(pending, &pending_capacity, sizeof *pending);
    pending[pending_count++] = client;
    client->pending = 1;
}

static uint64_t hash_bytes(const char *bytes, size_t length) {
    uint64_t hash = 1469598103934665603ULL;
    for (size_t index = 0; index < length; index++) hash = (hash ^ (unsigned char)bytes[index]) * 1099511628211ULL;
    return hash;
}

static channel_t *find_slot(channel_t *slots, size_t size, const char *name, size_t length, uint64_t hash) {
    size_t index = hash & (size - 1);
    while (slots[index].name && !(slots[index].hash == hash && slots[index].length == length && memcmp(slots[index].name, name, length) == 0))
        index = (index + 1) & (size - 1);
    return &slots[index];
}

static channel_t *channel_lookup(const char *name, size_t length, int create) {
    uint64_t hash = hash_bytes(name, length);
    channel_t *slot = find_slot(table, table_size, name, length, hash);
    if (slot->name || !create) return slot->name ? slot : NULL;
    if ((table_used + 1) * 2 > table_size) {
        size_t size = table_size * 2;
        channel_t *grown = calloc(size, sizeof *grown);
        if (!grown) abort();
        for (size_t index = 0; index < table_size; index++)
            if (table[index].name) *find_slot(grown, size, table[index].name, table[index].length, table[index].hash) = table[index];
        free(table);
        table = grown;
        table_size = size;
        slot = find_slot(table, table_size, name, length, hash);
    }
    slot->name = malloc(length);
    memcpy(slot->name, name, length);
    slot->length = length;
    slot->hash = hash;
    table_used++;
    return slot;
}

static void confirm(client_t *client, const char *kind, const char *name, size_t length) {
    append(&client->output, "*3\r\n", 4);
    append_bulk(&client->output, kind, strlen(kind));
    append_bulk(&client->output, name, length);
    append_header(&client->output, ':', client->subscriptions);
}

static void publish(client_t *publisher, const char *name, size_t name_length, const char *payload, size_t payload_length) {
    long long receivers = 0;
    channel_t *channel = channel_lookup(name, name_length, 0);
    if (channel && channel->count) {
        char frame_head[64];
        int head = sprintf(frame_head, "*3\r\n$7\r\nmessage\r\n$%zu\r\n", name_length);
        char payload_head[32];
        int payload_head_length = sprintf(payload_head, "\r\n$%zu\r\n", payload_length);
        for (int index = 0; index < channel->count; index++) {
            client_t *client = channel->subscribers[index];
            buffer_t *out = &client->output;
            reserve(out, (size_t)head + name_length + (size_t)payload_head_length + payload_length + 2);
            memcpy(out->data + out->length, frame_head, (size_t)head);
            out->length += (size_t)head;
            memcpy(out->data + out->length, name, name_length);
            out->length += name_length;
            memcpy(out->data + out->length, payload_head, (size_t)payload_head_length);
            out->length += (size_t)payload_head_length;
            memcpy(out->data + out->length, payload, payload_length);
            out->length += payload_length;
            memcpy(out->data + out->length, "\r\n", 2);
            out->length += 2;
            mark_pending(client);
        }
        receivers += channel->count;
    }
    if (pattern_count) {
        char terminated[512];
        size_t length = name_length < sizeof terminated - 1 ? name_length : sizeof terminated - 1;
        memcpy(terminated, name, length);
        terminated[length] = 0;
        for (int index = 0; index < pattern_count; index++) {
            if (fnmatch(patterns[index].pattern, terminated, 0) != 0) continue;
            buffer_t *out = &patterns[index].client->output;
            append(out, "*4\r\n$8\r\npmessage\r\n", 18);
            append_bulk(out, patterns[index].pattern, strlen(patterns[index].pattern));
            append_bulk(out, name, name_length);
            append_bulk(out, payload, payload_length);
            mark_pending(patterns[index].client);
            receivers++;
        }
    }
    append_header(&publisher->output, ':', receivers);
    mark_pending(publisher);
}

static void subscribe(client_t *client, const char *name, size_t length) {
    channel_t *channel = channel_lookup(name, length, 1);
    for (int index = 0; index < channel->count; index++)
        if (channel->subscribers[index] == client) return confirm(client, "subscribe", name, length);
    if (channel->count == channel->capacity) channel->subscribers = grow(channel->subscribers, &channel->capacity, sizeof(client_t *));
    channel->subscribers[channel->count++] = client;
    client->subscriptions++;
    confirm(client, "subscribe", name, length);
}

static void psubscribe(client_t *client, const char *pattern, size_t length) {
    if (pattern_count == pattern_capacity) patterns = grow(patterns, &pattern_capacity, sizeof *patterns);
    char *copy = malloc(length + 1);
    memcpy(copy, pattern, length);
    copy[length] = 0;
    patterns[pattern_count++] = (pattern_t){client, copy};
    client->subscriptions++;
    confirm(client, "psubscribe", pattern, length);
}

static int command_is(const char *argument, size_t length, const char *name) {
    return strlen(name) == length && strncasecmp(argument, name, length) == 0;
}

/// Runs every complete request in the client's input; returns 0 on a protocol error.
static int run_requests(client_t *client) {
    static const char **arguments;
    static size_t *lengths;
    static int argument_capacity;
    size_t position = 0;
    buffer_t *input = &client->input;
    for (;;) {
        size_t cursor = position;
        if (cursor >= input->length) break;
        if (input->data[cursor] != '*') return 0;
        char *end = memchr(input->data + cursor, '\n', input->length - cursor);
        if (!end) break;
        long count = strtol(input->data + cursor + 1, NULL, 10);
        if (count < 1 || count > 1000000) return 0;
        cursor = (size_t)(end - input->data) + 1;
        while (argument_capacity < count) {
            int capacity = argument_capacity;
            arguments = grow(arguments, &argument_capacity, sizeof *arguments);
            lengths = grow(lengths, &capacity, sizeof *lengths);
        }
        int complete = 1;
        for (long index = 0; index < count; index++) {
            if (cursor >= input->length) { complete = 0; break; }
            if (input->data[cursor] != '$') return 0;
            end = memchr(input->data + cursor, '\n', input->length - cursor);
            if (!end) { complete = 0; break; }
            long length = strtol(input->data + cursor + 1, NULL, 10);
            if (length < 0) return 0;
            cursor = (size_t)(end - input->data) + 1;
            if (cursor + (size_t)length + 2 > input->length) { complete = 0; break; }
            arguments[index] = input->data + cursor;
            lengths[index] = (size_t)length;
            cursor += (size_t)length + 2;
        }
        if (!complete) break;
        position = cursor;
        if (command_is(arguments[0], lengths[0], "PUBLISH") && count == 3) {
            publish(client, arguments[1], lengths[1], arguments[2], lengths[2]);
        } else if (command_is(arguments[0], lengths[0], "SUBSCRIBE")) {
            for (long index = 1; index < count; index++) subscribe(client, arguments[index], lengths[index]);
            mark_pending(client);
        } else if (command_is(arguments[0], lengths[0], "PSUBSCRIBE")) {
            for (long index = 1; index < count; index++) psubscribe(client, arguments[index], lengths[index]);
            mark_pending(client);
        } else if (command_is(arguments[0], lengths[0], "PING")) {
            append(&client->output, "+PONG\r\n", 7);
            mark_pending(client);
        } else {
            static const char error[] = "-ERR the floor server knows PUBLISH, SUBSCRIBE, PSUBSCRIBE and PING\r\n";
            append(&client->output, error, sizeof error - 1);
            mark_pending(client);
        }
    }
    memmove(input->data, input->data + position, input->length - position);
    input->length -= position;
    return 1;
}

static void drop(client_t *client) {
    for (size_t slot = 0; slot < table_size; slot++) {
        channel_t *channel = &table[slot];
        for (int index = 0; channel->name && index < channel->count; index++)
            if (channel->subscribers[index] == client) channel->subscribers[index--] = channel->subscribers[--channel->count];
    }
    for (int index = 0; index < pattern_count; index++)
        if (patterns[index].client == client) {
            free(patterns[index].pattern);
            patterns[index--] = patterns[--pattern_count];
        }
    for (int index = 0; index < pending_count; index++)
        if (pending[index] == client) pending[index--] = pending[--pending_count];
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, client->fd, NULL);
    close(client->fd);
    free(client->input.data);
    free(client->output.data);
    free(client);
}

/// Writes what the client has; 0 when the connection failed.
static int flush_client(client_t *client) {
    while (client->written < client->output.length) {
        ssize_t count = write(client->fd, client->output.data + client->written, client->output.length - client->written);
        if (count > 0) { client->written += (size_t)count; continue; }
        if (count < 0 && errno == EINTR) continue;
        if (count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!client->waiting_writable) {
                struct epoll_event event = {.events = EPOLLIN | EPOLLOUT, .data.ptr = client};
                epoll_ctl(epoll_fd, EPOLL_CTL_MOD, client->fd, &event);
                client->waiting_writable = 1;
            }
            return 1;
        }
        return 0;
    }
    client->output.length = 0;
    client->written = 0;
    if (client->waiting_writable) {
        struct epoll_event event = {.events = EPOLLIN, .data.ptr = client};
        epoll_ctl(epoll_fd, EPOLL_CTL_MOD, client->fd, &event);
        client->waiting_writable = 0;
    }
    return 1;
}

int bench_floor_serve(int port) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGPIPE, SIG_IGN);
    table = calloc(table_size, sizeof *table);
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int yes = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    address.sin_addr.s_addr = inet_addr("127.0.0.1");
    if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0 || listen(listener, 512) != 0) {
        perror("floor: bind");
        return 1;
    }
    epoll_fd = epoll_create1(0);
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &event);
    struct epoll_event events[256];
    static char scratch[1 << 16];
    for (;;) {
        int ready = epoll_wait(epoll_fd, events, 256, -1);
        for (int index = 0; index < ready; index++) {
            client_t *client = events[index].data.ptr;
            if (!client) {
                int fd;
                while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
                    client_t *accepted = calloc(1, sizeof *accepted);
                    accepted->fd = fd;
                    struct epoll_event added = {.events = EPOLLIN, .data.ptr = accepted};
                    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &added);
                }
                continue;
            }
            if (events[index].events & EPOLLOUT && !flush_client(client)) {
                drop(client);
                continue;
            }
            if (!(events[index].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
            int alive = 1;
            for (;;) {
                ssize_t count = read(client->fd, scratch, sizeof scratch);
                if (count > 0) {
                    append(&client->input, scratch, (size_t)count);
                    if ((size_t)count < sizeof scratch) break;
                } else if (count < 0 && errno == EINTR) {
                    continue;
                } else {
                    alive = count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
                    break;
                }
            }
            if (!alive || !run_requests(client)) drop(client);
        }
        for (int index = 0; index < pending_count; index++) {
            client_t *client = pending[index];
            client->pending = 0;
            if (!flush_client(client)) {
                drop(client);
                index = -1;  // drop() reordered the list: start over (rare: a broken connection)
            }
        }
        pending_count = 0;
    }
}
