// Class 5 calling card: collect the number to call (10 to 15 digits), bridge out through the
// carriers; when the bridge fails, say so and let the caller try once more.
async function main(data, ctx) {
  await ctx.answer();
  for (let attempt = 1; attempt <= 2; attempt += 1) {
    const { status, value } = await ctx.ivr('Please enter the number to call, then press pound', 10, 10, 15, '#', {
      tries: 3,
      invalid_file: 'That number is not valid.',
    });
    if (status !== 'success') {
      await ctx.tts('No number was entered. Goodbye.');
      return;
    }
    const result = await ctx.bridge(value);
    ctx.log(`bridge to ${value} failed: ${result.cause} (${result.code})`);
    await ctx.tts(attempt === 1
      ? 'The call could not be completed. Please try again.'
      : 'The call could not be completed. Goodbye.');
  }
}
