// Class 5 announcer: speaks a value fetched over HTTP (the status page in
// c5_announcer.settings.toml). The fetch is made once per call, even though each step replays.
async function main(data, ctx) {
  await ctx.answer();
  let text;
  try {
    const reply = await fetch(process.env.STATUS_URL);
    const body = await reply.json();
    text = `The current status is: ${body.status}.`;
  } catch (e) {
    text = 'The status is not available right now.';
  }
  await ctx.tts(text);
  await ctx.hangup();
}
