// The page's entry module (index.html loads it): renders the App into the body.
import { render } from '../vendor/preact.mjs';
import { App } from './app.js';
import { html } from './html.js';

render(html`<${App} />`, document.getElementById('app')!);
