// benches/soak.sh's faults phase: a three-step Class 5 call. Step 2 starts with a fetch whose
// answer the soak's driver holds back, so it can kill the service while that step is in flight;
// step 3 repeats both keys, so a call that continued after a restart shows it kept its journal.
async function main(data, ctx) {
  await ctx.answer();
  const first = await ctx.ivr('Step one. Press a key.', 5, 1, 1);
  const held = await fetch(process.env.HOLD_URL);
  const second = await ctx.ivr(
    `Step two. You pressed ${first.value}, the hold said ${held.status}. Press another key.`,
    5,
    1,
    1,
  );
  await ctx.tts(`Step three. You pressed ${first.value} then ${second.value}.`);
  await ctx.hangup();
}
