// Jest global teardown: names what a test left open (a socket, a server, a child process), so
// a leak is reported where it happens instead of showing up as a run that never exits. Files
// run in this process when jest runs in band (as on a 2-core machine); forceExit still ends it.
module.exports = async () => {
  await new Promise((r) => setTimeout(r, 500).unref());
  const left = process._getActiveHandles().filter((h) => h !== process.stdin && h !== process.stdout && h !== process.stderr && h.constructor.name !== 'WriteStream' && h.constructor.name !== 'ReadStream');
  if (left.length === 0) return;
  const describe = (h) => {
    const name = h.constructor.name;
    if (name === 'Socket') return `socket ${h.localAddress ?? ''}:${h.localPort ?? ''} -> ${h.remoteAddress ?? h._pipeName ?? '?'}:${h.remotePort ?? ''}`;
    if (name === 'Server') { const a = h.address(); return `server listening on ${typeof a === 'string' ? a : a ? `${a.address}:${a.port}` : '?'}`; }
    if (name === 'ChildProcess') return `child process ${h.pid} (${h.spawnfile})`;
    return name;
  };
  process.stderr.write(`\nkeepwatch tests: ${left.length} handle(s) left open after every test file finished (a test or check that does not close what it opened):\n${left.map((h) => `  - ${describe(h)}`).join('\n')}\n`);
};
