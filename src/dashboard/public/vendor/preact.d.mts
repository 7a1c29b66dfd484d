// Types of vendor/preact.mjs, Preact's ESM build that tools/build.mjs copies here.
export * from 'preact';
