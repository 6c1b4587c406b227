// benches/soak.sh's hostile flow: every call allocates until its memory limit, so the service
// must throw the runtime away, answer the fallback and build a fresh runtime for the next call.
function main() {
  const hoard = [];
  for (;;) {
    hoard.push(new Array(1 << 16).fill(hoard.length));
  }
}
