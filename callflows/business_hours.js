// Business hours with holidays, as a script: the front desk rings during office hours, callers
// hear a holiday message on public holidays, and voicemail takes everything else.
// Settings (ids, zone, holidays) are in business_hours.settings.toml under [vars].
const pf = require('pivotforge');

function main(data) {
  const v = data.vars;
  const now = pf.time(v.timezone);
  const holiday = v.holidays.find((h) => h.date === now.date || h.date === now.date.slice(5));
  if (holiday) {
    console.info(`closed for ${holiday.name}`);
    return pf.tts(`Our office is closed for ${holiday.name}. Please leave a message.`, {},
      pf.voicemail(v.mailbox));
  }
  const open = v.open_days.includes(now.weekday) && now.time >= v.opens && now.time < v.closes;
  if (!open) {
    return pf.voicemail(v.mailbox);
  }
  return pf.device(v.front_desk, { timeout: 20 }, pf.voicemail(v.mailbox));
}
