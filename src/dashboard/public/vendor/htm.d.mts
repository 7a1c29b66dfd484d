// Types of vendor/htm.mjs, htm's ESM build that tools/build.mjs copies here.
export { default } from 'htm';
