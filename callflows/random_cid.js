// Outbound calls with a caller ID picked at random from a list, so one number is not flagged
// for volume: set_cid, then out through the carriers.
function main(data) {
  const pool = data.vars.caller_ids;
  const number = pool[Math.floor(Math.random() * pool.length)];
  return {
    module: 'set_cid',
    data: { caller_id_number: number, caller_id_name: data.vars.caller_id_name },
    children: {
      _: { module: 'resources', data: { to_did: data.Request, use_local_resources: false } },
    },
  };
}
