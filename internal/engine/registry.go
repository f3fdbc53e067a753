package engine

import (
	"github.com/asynkron/protoactor-go/actor"
	cmap "github.com/orcaman/concurrent-map"
)

// RegistryBuckets is how many buckets of 32 maps CompactRegistry leaves in
// a process registry: 256 maps, each taking its lock for a spawn or a stop
// (a PID caches its process, so sends do not look the registry up).
// protoactor makes 1 024 buckets, 32 768 maps: with a few actors per map
// each holds a whole group of slots, about 215 bytes per actor, where a
// map of many actors spends about 50; a million connections (two actors
// each) put some 7 800 in each of these maps.
const RegistryBuckets = 8

// CompactRegistry gives sys's process registry RegistryBuckets buckets,
// moving in what it holds. Call it on a new actor system, before anything
// else uses it: the registry's bucket list is read without a lock.
func CompactRegistry(sys *actor.ActorSystem) {
	old := sys.ProcessRegistry.LocalPIDs
	sm := &actor.SliceMap{LocalPIDs: make([]cmap.ConcurrentMap, RegistryBuckets)}
	for i := range sm.LocalPIDs {
		sm.LocalPIDs[i] = cmap.New()
	}
	for _, m := range old.LocalPIDs {
		for k, v := range m.Items() {
			sm.GetBucket(k).Set(k, v)
		}
	}
	sys.ProcessRegistry.LocalPIDs = sm
}
