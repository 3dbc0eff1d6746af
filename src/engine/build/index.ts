// docker build's legacy (classic) builder, as dockerd 20.10 runs POST /build. It owns the
// Dockerfile parser (parser.ts, instructions.ts, shell-lex.ts), the context and its
// .dockerignore (context.ts, dockerignore.ts), the steps (dispatch.ts, copy.ts, steps.ts),
// the cache (cache.ts: the step images themselves) and the run (builder.ts). It calls the
// engine's services: the image store (commit, tag, pull), the container service (a step's
// containers), the snapshot driver (COPY's scratch layer); the API edge (api/build.ts)
// parses the request, creates containers from docker's Config, and streams the messages.
export { Builder, type BuildOptions } from './builder.js';
export { jsonOutput, type BuildOutput } from './output.js';
export { StepError, type BuildBackend, type StepHostConfig } from './steps.js';
