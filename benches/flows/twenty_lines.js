// A typical 20-line flow: read the request, a little logic, build a tree with the helper.
const pf = require('pivotforge');

function main(data) {
  const number = data['Caller-ID-Number'] || '';
  const digits = number.replace(/[^0-9]/g, '');
  const national = digits.length === 11 && digits[0] === '1' ? digits.slice(1) : digits;
  const area = national.length === 10 ? national.slice(0, 3) : null;
  const vip = ['415', '650'].includes(area);
  const hour = new Date().getUTCHours();
  const open = hour >= 13 && hour < 22;
  if (!open) {
    return pf.voicemail('9a8b7c6d5e4f30211a2b3c4d5e6f7a8b');
  }
  const greeting = vip ? `Welcome, caller from ${area}.` : 'Welcome.';
  return pf.tts(greeting, {}, pf.device('3f1c5b7a9d2e4f608a1b2c3d4e5f6a7b', { timeout: vip ? 30 : 20 },
    pf.voicemail('9a8b7c6d5e4f30211a2b3c4d5e6f7a8b')));
}
