// fc.assert with the failing case's own error in the message: uvu prints only the
// message, and fast-check keeps the underlying assertion in `cause`.

import fc from 'fast-check';

export async function check<Ts extends [unknown, ...unknown[]]>(
  property: fc.IAsyncPropertyWithHooks<Ts> | fc.IPropertyWithHooks<Ts>, parameters: fc.Parameters<Ts>,
): Promise<void> {
  try {
    await fc.assert(property, parameters);
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause;
    const detail = cause instanceof Error ? `${cause.message}\n${cause.stack ?? ''}` : String(cause ?? '');
    throw new Error(`${(error as Error).message}\nCaused by: ${detail}`);
  }
}
