// One step of a digits menu: ask, collect one digit into `menu`, pivot back here; then route
// 1 to sales, 2 to support, nothing pressed (Kazoo sends the collection empty) to support too,
// anything else back to the question.
const pf = require('pivotforge');

function ask(prompt) {
  return pf.tts(prompt, {},
    pf.collectDtmf('menu', 1, { timeout: 5000 }, pf.pivot('digits_menu')));
}

function main(data) {
  const choice = data.Digits && data.Digits.menu;
  if (choice === undefined) return ask('For sales press 1. For support press 2.');
  if (choice === '1') return pf.device(data.vars.sales, { timeout: 20 });
  if (choice === '2') return pf.user(data.vars.support, { timeout: 20 });
  // A caller who presses nothing gets a person, not the question forever.
  if (choice === '') {
    return pf.tts('Connecting you to support.', {}, pf.user(data.vars.support, { timeout: 20 }));
  }
  return ask(`${choice} is not an option. For sales press 1. For support press 2.`);
}
