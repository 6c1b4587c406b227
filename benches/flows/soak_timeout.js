// benches/soak.sh's hostile flow: every call loops until its time limit, so the service must
// stop it, answer the fallback and keep the JS thread.
function main() {
  let spins = 0;
  for (;;) {
    spins += 1;
  }
}
