import { mount } from 'svelte';
import App from './App.svelte';
import { AppState } from './lib/app-state.svelte.js';
import { connectControl } from './lib/control-client.js';
import './app.css';

const app = new AppState(connectControl());
// connectControl() has kept the token for this tab; keep it out of the address bar and history.
if (new URLSearchParams(location.search).has('token')) history.replaceState(null, '', location.pathname);

mount(App, { target: document.getElementById('app')!, props: { app } });
