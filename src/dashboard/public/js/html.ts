// htm bound to Preact's h: tagged templates instead of JSX, so no build step but tsc.
import htm from '../vendor/htm.mjs';
import { h } from '../vendor/preact.mjs';

export const html = htm.bind(h);
