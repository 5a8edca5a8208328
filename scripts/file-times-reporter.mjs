// A reporter for Node's test runner that writes, as one JSON object, the time
// the top-level tests took per file that defines them ({file: ms}: Node 20
// names the file of the test() call, so a shared suite such as
// test/matrix/scenarios.ts counts for every file that runs it);
// scripts/test.mjs prints the slowest, so a CI log shows where its minutes went.
export default async function* fileTimes(source) {
  const times = {};
  for await (const event of source) {
    if ((event.type === 'test:pass' || event.type === 'test:fail') && event.data.nesting === 0 && event.data.file) {
      times[event.data.file] = (times[event.data.file] ?? 0) + (event.data.details?.duration_ms ?? 0);
    }
  }
  yield JSON.stringify(times);
}
