package policy

import (
	"net/netip"
	"sync"
	"time"
)

// Admission verdicts of IPTable.Admit.
type Verdict uint8

const (
	// Admitted: the handshake may go on; it holds a session slot of its
	// address when the table caps sessions.
	Admitted Verdict = iota
	// RateLimited: the address's handshake bucket is empty.
	RateLimited
	// TooManySessions: the address already holds max_sessions_per_ip.
	TooManySessions
)

// ipShards spreads the table's addresses over locks: loops admit
// concurrently, and a shard's critical section is a map lookup.
const ipShards = 64

// sweepEvery bounds how often a full shard is walked for entries to
// forget: under a flood of new addresses a walk that frees nothing must
// not run for every one of them.
const sweepEvery = time.Second

// IPTable holds per-address state for max_sessions_per_ip and
// handshakes_per_ip: each entry an address's open sessions and its
// handshake bucket. It is safe for concurrent use and exact across the
// loops that share it.
//
// Memory is bounded. An entry is forgotten only when it holds no session
// and its bucket is full again, which loses nothing: a forgotten address
// comes back to a full bucket, exactly what it would have had. So an
// attacker cannot reset a heavy user's bucket by flooding the table with
// new addresses: an entry in debt is never evicted. A new address that
// finds its shard full of such entries shares the shard's overflow bucket
// (same rate) with every other address in that position until entries
// drain; an address holding sessions always gets its own entry, and those
// are bounded by the session cap.
type IPTable struct {
	maxSessions int32 // 0 = no cap
	spec        BucketSpec
	rated       bool // handshakes are rate limited
	perShard    int
	shards      [ipShards]ipShard
}

type ipShard struct {
	mu        sync.Mutex
	m         map[netip.Addr]*IPEntry
	overflow  Bucket
	lastSweep int64
	_         [32]byte // keep shards' locks on separate cache lines
}

// IPEntry is one address's state; a session holding a slot keeps its
// entry to release it (Release).
type IPEntry struct {
	sessions int32
	bucket   Bucket
	shard    uint8
}

// NewIPTable returns a table capping sessions at maxSessions per address
// (0: no cap) and handshakes at spec (nil: no rate limit), remembering
// about tracked addresses at once.
func NewIPTable(maxSessions int, spec *BucketSpec, tracked int) *IPTable {
	t := &IPTable{maxSessions: int32(maxSessions), perShard: max(tracked/ipShards, 1)}
	if spec != nil {
		t.spec, t.rated = *spec, true
	}
	for i := range t.shards {
		t.shards[i].m = make(map[netip.Addr]*IPEntry)
	}
	return t
}

// CapsSessions reports whether the table counts sessions.
func (t *IPTable) CapsSessions() bool { return t.maxSessions > 0 }

// Admit takes a handshake token for addr (already grouped: GroupKey) at
// now (nanoseconds of a monotonic clock) and, when the table caps
// sessions, a session slot. It returns the entry holding the slot (nil
// when none is held), the verdict, and for RateLimited how long until a
// token is due.
func (t *IPTable) Admit(addr netip.Addr, now int64) (*IPEntry, Verdict, time.Duration) {
	si := shardOf(addr)
	sh := &t.shards[si]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[addr]
	if e == nil {
		if len(sh.m) >= t.perShard && now-sh.lastSweep >= int64(sweepEvery) {
			sh.sweep(now)
		}
		if len(sh.m) >= t.perShard && !t.CapsSessions() {
			// Full of entries that still matter: this newcomer is
			// rated in the overflow bucket, remembering nothing.
			if t.rated {
				if ok, wait := sh.overflow.Take(&t.spec, now, 1); !ok {
					return nil, RateLimited, wait
				}
			}
			return nil, Admitted, 0
		}
		e = &IPEntry{shard: uint8(si)}
		sh.m[addr] = e
	}
	if t.rated {
		if ok, wait := e.bucket.Take(&t.spec, now, 1); !ok {
			return nil, RateLimited, wait
		}
	}
	if !t.CapsSessions() {
		return nil, Admitted, 0
	}
	if e.sessions >= t.maxSessions {
		return nil, TooManySessions, 0
	}
	e.sessions++
	return e, Admitted, 0
}

// Release gives back the session slot e holds (from Admit).
func (t *IPTable) Release(e *IPEntry) {
	if e == nil {
		return
	}
	sh := &t.shards[e.shard]
	sh.mu.Lock()
	e.sessions--
	sh.mu.Unlock()
}

// Sweep forgets every entry that holds nothing (no session, full bucket)
// at now. The engine calls it now and then so that the table shrinks back
// after a burst of addresses.
func (t *IPTable) Sweep(now int64) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		sh.sweep(now)
		sh.mu.Unlock()
	}
}

// Len is the number of addresses remembered.
func (t *IPTable) Len() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// sweep forgets the shard's entries that hold nothing. Called locked.
func (sh *ipShard) sweep(now int64) {
	sh.lastSweep = now
	for a, e := range sh.m {
		if e.sessions == 0 && e.bucket.Full(now) {
			delete(sh.m, a)
		}
	}
}

// shardOf picks an address's shard from its low bytes, where addresses of
// one network differ.
func shardOf(a netip.Addr) int {
	b := a.As16()
	return int(b[15]^b[14]^b[13]^b[11]^b[7]) % ipShards
}
