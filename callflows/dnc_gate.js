// Do-not-call gate: callers whose number is in the `dnc` userspace list are refused with
// 603 Decline; everyone else rings the front desk. The list is loaded from lists/dnc.csv at
// start-up and managed with GET/PUT/DELETE /userspace/dnc/{number}.
const { read } = require('cxUserspace');

async function main(data) {
  const number = data['Caller-ID-Number'];
  if (number && (await read('dnc', number)) !== null) {
    console.warn(`DNC hit for ${number}`);
    return Promise.reject([603, 'Denied (DNC)']);
  }
  return { module: 'device', data: { id: data.vars.front_desk, timeout: 20 } };
}
