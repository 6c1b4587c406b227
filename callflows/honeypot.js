// Rate-limit honeypot: a number that calls 3 times within 2 minutes is blocked for 30 minutes
// with 603 Decline. Counters live in cxKV, so every node of a cluster sees the same counts.
import { kv, incr } from 'cxKV';

export async function main(data) {
  const number = data['Caller-ID-Number'] || 'anonymous';
  if (await kv.get(`blocked:${number}`)) {
    return Promise.reject([603, 'Decline (rate limited)']);
  }
  const calls = await incr(`calls:${number}`, 1, 120);
  if (calls >= 3) {
    await kv.set(`blocked:${number}`, String(calls), 1800);
    console.warn(`${number} called ${calls} times in 2 minutes: blocked for 30 minutes`);
    return Promise.reject([603, 'Decline (rate limited)']);
  }
  return { module: 'tts', data: { text: 'Thank you for calling.' }, children: { _: { module: 'voicemail', data: { id: data.vars.mailbox } } } };
}
