// `coap-fleet/testing`: what integrators need to test code built on the stack
// deterministically: a virtual clock, an in-memory network, a fault-injecting transport
// (loss, duplication, reordering, delay) and a seeded random source.

export { VirtualClock } from '../protocol/virtual-clock.js';
export { MemoryNetwork, MemoryTransport } from '../protocol/transport-memory.js';
export { FaultyTransport, type FaultOptions } from '../protocol/transport-faulty.js';
export { SeededRandom } from '../protocol/seeded-random.js';
export { silentLogger } from '../protocol/runtime.js';
