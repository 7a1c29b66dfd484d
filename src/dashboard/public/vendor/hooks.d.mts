// Types of vendor/hooks.mjs, preact/hooks' ESM build that tools/build.mjs copies here.
export * from 'preact/hooks';
