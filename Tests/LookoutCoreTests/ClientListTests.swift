import Testing

@testable import LookoutCore

@Suite struct ClientListTests {
    /// Captured from Debian's redis-server 7.0.15.
    static let redis70 = """
        id=40 addr=127.0.0.1:48142 laddr=127.0.0.1:7777 fd=7 name= age=0 idle=0 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=13 qbuf-free=20461 argv-mem=10 multi-mem=0 rbs=16384 rbp=16384 obl=0 oll=0 omem=0 tot-mem=37658 events=r cmd=client|info user=default redir=-1 resp=2
        id=41 addr=127.0.0.1:48150 laddr=127.0.0.1:7777 fd=8 name=lookout-monitor age=12 idle=0 flags=P db=0 sub=0 psub=1 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=3 omem=61512 tot-mem=83512 events=rw cmd=psubscribe user=default redir=-1 resp=2

        """

    @Test func parsesRedis70Lines() {
        let entries = ClientListEntry.parse(Self.redis70)
        #expect(entries.count == 2)
        #expect(entries[0].id == 40)
        #expect(entries[0].name == "")
        #expect(entries[0].subscriptions == 0)
        #expect(entries[1].name == "lookout-monitor")
        #expect(entries[1].subscriptions == 1)
        #expect(entries[1].outputMemory == 61512)
        #expect(entries[1].address == "127.0.0.1:48150")
    }

    @Test func unknownAndMalformedFieldsAreSkipped() {
        let entry = ClientListEntry(line: "id=7 future-field=x lib-name=redis-py garbage name=w1 sub=2 ssub=1 omem=abc")
        #expect(entry.id == 7)
        #expect(entry.name == "w1")
        #expect(entry.subscriptions == 3)
        #expect(entry.outputMemory == 0)
        #expect(entry.fields["future-field"] == "x")
    }
}

@Suite struct RedisURLTests {
    @Test func parsesTheUsualForms() {
        let plain = RedisURL("redis://127.0.0.1:6379")
        #expect(plain?.host == "127.0.0.1" && plain?.port == 6379 && plain?.password == nil)
        let full = RedisURL("redis://ops:s3cret@cache.internal:6380/0")
        #expect(full?.host == "cache.internal")
        #expect(full?.port == 6380)
        #expect(full?.user == "ops")
        #expect(full?.password == "s3cret")
        #expect(full?.description == "redis://cache.internal:6380", "credentials never appear in labels or logs")
        #expect(RedisURL("redis://:pw@[::1]:7000")?.host == "::1")
        #expect(RedisURL("redis://localhost")?.port == 6379)
        #expect(RedisURL("http://localhost") == nil)
        #expect(RedisURL("redis://host:99999") == nil)
    }

    @Test func severalSeedsOfOneCluster() throws {
        let url = try #require(RedisURL("redis://ops:pw@10.0.0.1:7000,10.0.0.2,[::1]:7002/0"))
        #expect(url.seeds == [RedisEndpoint(host: "10.0.0.1", port: 7000), RedisEndpoint(host: "10.0.0.2", port: 6379),
                              RedisEndpoint(host: "::1", port: 7002)])
        #expect(url.host == "10.0.0.1" && url.port == 7000, "the first seed")
        #expect(url.description == "redis://10.0.0.1:7000,10.0.0.2:6379,[::1]:7002")
        let node = url.on(RedisEndpoint(host: "10.0.0.3", port: 7005))
        #expect(node.seeds.count == 1 && node.host == "10.0.0.3" && node.password == "pw" && node.user == "ops", "credentials kept")
        #expect(RedisURL("redis://a:1,a:1")?.seeds.count == 1, "a seed given twice is one")
        #expect(RedisURL("redis://a:1,") == nil, "an empty seed")
        #expect(RedisURL("redis://a:1,b:0") == nil, "a bad port in any seed")
    }

    /// Found by `make fuzz` (redis-url): "redis://[" named a host "[", printed as "[:6379",
    /// which parsed back as another host. Hosts are names, IPv4 or bracketed IPv6 only.
    @Test(arguments: ["redis://[/09.0./[::16380", "redis://[", "redis://[::1", "redis://[::1]x", "redis://[abc]:1",
                      "redis://::1", "redis://a:b:1", "redis://a b:1", "redis://a:+1", "redis://é.example:1", "redis://a]:1"])
    func malformedHostsAreRefused(_ text: String) {
        #expect(RedisURL(text) == nil, "\(text)")
    }

    @Test func everyURLPrintsAsOneThatNamesTheSameNodes() throws {
        for text in ["redis://127.0.0.1", "redis://[::1]:6380", "redis://[fe80::1%eth0]:7000", "redis://my_host-1.local:1,10.0.0.2"] {
            let url = try #require(RedisURL(text), "\(text)")
            #expect(RedisURL(url.description)?.seeds == url.seeds, "\(text)")
        }
    }
}
