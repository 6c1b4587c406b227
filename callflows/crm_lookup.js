// CRM lookup: ask the CRM who is calling; VIPs ring their account manager, known customers
// hear their name, everyone else goes to the queue. After the call, postCall records it in the
// CRM (the campaign-manager pattern). The CRM's URL is process.env.CRM_URL; its host must be in
// allow_hosts.
export async function main(data) {
  const number = data['Caller-ID-Number'];
  if (!number) return queue(data);
  const reply = await fetch(`${process.env.CRM_URL}/contacts?phone=${encodeURIComponent(number)}`, {
    headers: { authorization: `Bearer ${process.env.CRM_TOKEN}` },
  });
  if (reply.status === 404) return queue(data);
  if (!reply.ok) throw new Error(`CRM answered ${reply.status}`);
  const contact = await reply.json();
  console.info(`caller is ${contact.name} (${contact.tier})`);
  if (contact.tier === 'vip' && contact.manager_device) {
    return { module: 'device', data: { id: contact.manager_device, timeout: 25 }, children: { _: queue(data) } };
  }
  return { module: 'tts', data: { text: `Welcome back, ${contact.name}.` }, children: { _: queue(data) } };
}

function queue(data) {
  return { module: 'ring_group', data: { endpoints: data.vars.queue.map((id) => ({ endpoint_type: 'user', id })), timeout: 30 } };
}

export async function postCall(event) {
  const reply = await fetch(`${process.env.CRM_URL}/calls`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${process.env.CRM_TOKEN}` },
    body: JSON.stringify({ call_id: event.call_id, from: event.caller_id_number, duration: event.duration_seconds }),
  });
  if (!reply.ok) throw new Error(`CRM refused the call record: ${reply.status}`);
  return { recorded: true };
}
