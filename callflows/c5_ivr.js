// Class 5 IVR (a ScriptForge voice app, unchanged): press 1 for sales (extension 1002); no input
// goes to the front desk (1001). The extensions are in c5_ivr.settings.toml.
async function main(data, ctx) {
  await ctx.answer();
  const { status, value } = await ctx.ivr('Press 1 for sales, or stay on the line for the front desk', 5, 1, 1, '#');
  if (status === 'success' && value === '1') {
    await ctx.bridge('1002');
  } else if (status === 'timeout') {
    await ctx.bridge('1001');
  } else {
    await ctx.tts(`${value} is not an option. Goodbye.`);
    await ctx.hangup();
  }
}
