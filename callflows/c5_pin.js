// Class 5 PIN check: three tries; wrong PINs are counted per caller in cxKV for an hour, so a
// caller who used up the tries is refused on the next call too. The PIN and where a right one
// goes are in c5_pin.settings.toml.
const { kv, incr } = require('cxKV');

async function main(data, ctx) {
  const caller = ctx.get('caller_id_number') || 'anonymous';
  const key = `pin-failures:${caller}`;
  if (Number(await kv.get(key)) >= 3) throw [403, 'Too many wrong PINs'];
  for (let tries = 1; tries <= 3; tries += 1) {
    const { status, value } = await ctx.ivr('Please enter your PIN, then press pound', 10, 4, 8, '#');
    if (status === 'success' && value === data.vars.pin) {
      await kv.delete(key);
      await ctx.tts('Thank you.');
      await ctx.bridge(data.vars.target);
      return;
    }
    const failures = await incr(key, 1, 3600);
    if (failures >= 3) break;
    await ctx.tts('That PIN is not correct.');
  }
  await ctx.tts('Too many wrong PINs. Goodbye.');
}
