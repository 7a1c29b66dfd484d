// What the agent reads from `rauc status --output-format=json` (RAUC's documented JSON, the
// subset we rely on): `boot_primary` (the slot the bootloader boots next, by slot name),
// `booted` (the booted slot's bootname) and `slots`, a list of one-key objects
// `{ "rootfs.0": { bootname, state, boot_status, … } }` where the booted slot has `state`
// "booted" and `boot_status` is "good" or "bad" (null for slots without a bootname).

export interface RaucSlot {
  readonly name: string;
  readonly bootname: string | null;
  readonly state: string;
  readonly bootStatus: string | null;
}

export interface RaucStatus {
  /** The booted slot; undefined when RAUC names none (not booted from a RAUC slot). */
  readonly booted: RaucSlot | undefined;
  /** The slot name the bootloader boots next; null when RAUC cannot tell. */
  readonly primary: string | null;
  readonly slots: readonly RaucSlot[];
}

/** Parses the JSON text; a string (the problem) when it is not RAUC's status shape. */
export function parseRaucStatus(text: string): RaucStatus | string {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    return `rauc status is not JSON: ${(error as Error).message}`;
  }
  if (!isObject(body) || !Array.isArray(body.slots)) return 'rauc status has no "slots" list';
  const slots: RaucSlot[] = [];
  for (const entry of body.slots) {
    if (!isObject(entry)) return 'rauc status: a slot entry is not an object';
    for (const [name, fields] of Object.entries(entry)) {
      if (!isObject(fields) || typeof fields.state !== 'string') return `rauc status: slot ${name} has no state`;
      slots.push({ name, bootname: stringOrNull(fields.bootname), state: fields.state, bootStatus: stringOrNull(fields.boot_status) });
    }
  }
  // `state` "booted" decides; `booted` (a bootname) is the fallback of older releases.
  const bootedName = stringOrNull(body.booted);
  const booted = slots.find((slot) => slot.state === 'booted') ?? slots.find((slot) => bootedName !== null && slot.bootname === bootedName);
  return { booted, primary: stringOrNull(body.boot_primary), slots };
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

const stringOrNull = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);
