package policy

import (
	"math"
	"time"
)

// Bucket is a token bucket in the GCRA form (ITU-T I.371's virtual
// scheduling): its whole state is the theoretical arrival time of the
// next unit, tat, in nanoseconds of the caller's clock. A full bucket has
// tat ≤ now. One int64 per bucket keeps per-session and per-address state
// small, and Take is a few integer operations with no allocation.
type Bucket struct {
	tat int64
}

// BucketSpec is a bucket's rate and size, shared by every bucket of one
// limit.
type BucketSpec struct {
	unit  float64 // nanoseconds per unit
	burst int64   // nanoseconds of credit a full bucket holds: burst × unit
}

// NewBucketSpec returns the spec of n units per period with room for
// burst units (burst < 1 means n per second's worth, at least 1). n must
// be positive.
func NewBucketSpec(n int64, per time.Duration, burst int64) BucketSpec {
	unit := float64(per) / float64(n)
	if burst < 1 {
		burst = max(int64(math.Ceil(float64(time.Second)/unit)), 1)
	}
	return BucketSpec{unit: unit, burst: saturate(float64(burst) * unit)}
}

// saturate converts ns to int64, clamped: a huge charge means "never".
func saturate(ns float64) int64 {
	if ns >= math.MaxInt64/2 {
		return math.MaxInt64 / 2
	}
	return int64(ns)
}

// Take takes cost units at now if the bucket holds them and reports
// whether it did; a cost larger than the whole bucket needs a full bucket
// and leaves it in debt, so that the average rate still holds. When it
// refuses, wait is how long until it would succeed.
func (b *Bucket) Take(spec *BucketSpec, now, cost int64) (ok bool, wait time.Duration) {
	charge := saturate(float64(cost) * spec.unit)
	t := max(b.tat, now)
	if need := min(charge, spec.burst); t+need-now > spec.burst {
		return false, time.Duration(t + need - now - spec.burst)
	}
	b.tat = t + charge
	return true, 0
}

// Charge takes cost units whether or not the bucket holds them: the
// frames after a message's first, which was admitted, are charged without
// a new decision.
func (b *Bucket) Charge(spec *BucketSpec, now, cost int64) {
	b.tat = max(b.tat, now) + saturate(float64(cost)*spec.unit)
}

// Full reports whether the bucket is full at now: forgetting it loses
// nothing, since a new bucket starts full.
func (b *Bucket) Full(now int64) bool { return b.tat <= now }
