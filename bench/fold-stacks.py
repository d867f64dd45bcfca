import sys, re, collections
# usage: perf script -i X | fold.py FILTER_SUBSTR [topN]
filt = sys.argv[1] if len(sys.argv) > 1 else None
top = int(sys.argv[2]) if len(sys.argv) > 2 else 60
incl = collections.Counter(); selfc = collections.Counter(); total = 0; matched = 0
stack = []
def flush():
    global total, matched
    if not stack: return
    total += 1
    names = [s for s in stack]
    if filt and not any(filt in n for n in names): return
    matched += 1
    seen = set()
    for n in names:
        if n not in seen:
            incl[n] += 1; seen.add(n)
    selfc[names[0]] += 1
for line in sys.stdin:
    if not line.strip():
        flush(); stack = []; continue
    if line[0] in ' \t':
        parts = line.strip().split(' ', 1)
        if len(parts) == 2:
            sym = parts[1]
            sym = re.sub(r'\+0x[0-9a-f]+', '', sym)
            sym = re.sub(r' \(.*\)$', '', sym)
            sym = sym[:110]
            stack.append(sym)
flush()
print(f"samples {total}, matching {matched}")
print("--- inclusive (% of matching)")
for n, c in incl.most_common(top):
    print(f"{100*c/max(matched,1):6.2f}% {n}")
print("--- self")
for n, c in selfc.most_common(40):
    print(f"{100*c/max(matched,1):6.2f}% {n}")
