// BENCHMARK ONLY. Preloaded into a server process (NODE_OPTIONS=--import, bench/probe-bare.ts's
// PROFILE) to profile it: Node 20 refuses --cpu-prof in NODE_OPTIONS, and the bench processes are
// started by code that takes no node flags. The inspector's profile is written on exit to
// CPU_PROFILE_OUT (the in-process session answers synchronously, so an exit handler can still ask).
import fs from 'node:fs';
import inspector from 'node:inspector';

const out = process.env.CPU_PROFILE_OUT;
if (out) {
  const session = new inspector.Session();
  session.connect();
  // 200 µs: a loopback request here costs 1–5 ms, so each gets several samples.
  session.post('Profiler.setSamplingInterval', { interval: 200 });
  session.post('Profiler.enable');
  session.post('Profiler.start');
  process.on('exit', () => {
    session.post('Profiler.stop', (error, result) => {
      if (!error) fs.writeFileSync(out, JSON.stringify(result.profile));
    });
  });
}
