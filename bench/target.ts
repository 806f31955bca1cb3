import http from 'node:http';

/**
 * The probe target, run as its own process so its CPU is not counted against the process
 * under test: answers 200 with a small body to any GET on 127.0.0.1, and tells the parent
 * its port over IPC. It exits when the parent goes away.
 */
const BODY = Buffer.from('ok\n');

const server = http.createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': BODY.length });
  res.end(BODY);
});
server.keepAliveTimeout = 5000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as import('node:net').AddressInfo;
  process.send?.({ port });
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
