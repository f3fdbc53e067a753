#!/usr/bin/env python3
# heap-owners.py BIN PROFILE CONNS [BUCKET]: KiB per connection of a heap
# profile taken with every allocation sampled (scripts/heap-owners.sh),
# by owner. Each live allocation goes to the first owner whose rule its
# stack matches; the channel side's owners start with "ch:". With BUCKET,
# the allocation sites of the owners whose name contains it, in bytes per
# connection.
import re, subprocess, sys, collections
binp, prof, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
raw = subprocess.run(['go','tool','pprof','-raw',binp,prof],capture_output=True,text=True).stdout
samples_part, loc_part = raw.split('\nLocations\n',1)
locs = {}; cur=None
for line in loc_part.splitlines():
    m = re.match(r'\s+(\d+): 0x[0-9a-f]+ M=\d+ (\S+)', line)
    if m:
        cur=int(m.group(1)); locs[cur]=[m.group(2)]; continue
    m = re.match(r'\s+(\S+) \S+:\d+', line)
    if m and cur is not None and not line.strip().startswith('Mappings'):
        locs[cur].append(m.group(1))
    if line.startswith('Mappings'): break
def chan(s): return any('pyre/internal/engine' in f or 'socketActor).join' in f for f in s)
def pa_leaf(s):
    lf = s[0]
    return ('protoactor' in lf or 'UnboundedLockfree' in lf or 'SetMailbox' in lf or 'Spawn.func2' in lf
            or lf == 'github.com/pyrehq/pyre/internal/engine.Spawn' or 'mpsc' in lf)
rules = [
 ('fixed (registry shards)', lambda s: any('concurrent-map.New' in f for f in s) or any('NewActorSystem' in f for f in s)),
 ('ch: protoactor children PIDSet (in Socket actor)', lambda s: any('PIDSet' in f for f in s)),
 ('ch: protoactor registry entry', lambda s: any('ProcessRegistryValue' in f for f in s) and chan(s)),
 ('ch: protoactor context, PID, mailbox, props', lambda s: pa_leaf(s) and chan(s)),
 ('ch: presence', lambda s: any('pyre/presence' in f for f in s)),
 ('ch: history ring', lambda s: any('topics.newRing' in f or 'lockRing' in f for f in s)),
 ('ch: topic subscription + gate', lambda s: any('subscribe' in f and ('engine' in f or 'channel' in f) for f in s)),
 ('socket: table entry', lambda s: any('newEntry' in f or 'fastPath).publish' in f or 'routes).with' in f or 'socket.build' in f for f in s)),
 ('app: chat behaviour values', lambda s: 'examples/chat' in s[0] and chan(s)),
 ('ch: channel actor, spec, handle, state, logger, recovery', lambda s: any('internal/channel' in f or 'internal/engine' in f or 'socketActor).join' in f for f in s)),
]
tot = collections.Counter(); allb=0
for line in samples_part.splitlines():
    m = re.match(r'\s*\d+\s+\d+\s+(\d+)\s+(\d+): (.*)', line)
    if not m: continue
    b = int(m.group(2)); 
    if b==0: continue
    stack=[]
    for i in m.group(3).split():
        stack += locs.get(int(i),[])
    allb+=b
    for name,f in rules:
        if f(stack): tot[name]+=b; break
    else: tot['other (socket side, runtime)']+=b
for name,_ in rules+[('other (socket side, runtime)',None)]:
    print(f"{tot[name]/n/1024:7.3f} KiB  {name}")
print(f"{allb/n/1024:7.3f} KiB  total live heap / conn ({allb/1024/1024:.1f} MiB)")
print(f"{sum(v for k,v in tot.items() if k.startswith('ch:'))/n/1024:7.3f} KiB  channel side")
if len(sys.argv)>4:
    want=sys.argv[4]
    c=collections.Counter()
    for line in samples_part.splitlines():
        m = re.match(r'\s*\d+\s+\d+\s+(\d+)\s+(\d+): (.*)', line)
        if not m or int(m.group(2))==0: continue
        stack=[]
        for i in m.group(3).split(): stack += locs.get(int(i),[])
        for name,f in rules:
            if f(stack): cat=name; break
        else: cat='other'
        if want in cat:
            c[' < '.join(stack[:4])]+=int(m.group(2))
    for k,v in c.most_common(25): print(f"{v/n:8.1f} B  {k}")
