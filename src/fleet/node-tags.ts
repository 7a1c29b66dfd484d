// Node tags (issue 13): the groups a node belongs to, for `publish --tags`, `nodes --tag`
// and per-group maintenance windows. A node names its own in its registration (the agent's
// `tags` setting); an operator sets them with PUT /nodes/{id}. Both are kept as one set:
// a registration changes it only when the node's own list changed, so an operator's edit
// survives the node registering again with the same configuration.

export const MAX_TAGS = 16;

/** A tag: 1-32 of [A-Za-z0-9._-], starting with a letter or digit. */
export const isValidTag = (tag: string): boolean => /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/.test(tag);

/** Problems of a tag list from untrusted JSON, prefixed with `field`. */
export function tagProblems(value: unknown, field: string): string[] {
  if (!Array.isArray(value) || value.length > MAX_TAGS || !value.every((tag) => typeof tag === 'string' && isValidTag(tag))) {
    return [`${field}: up to ${MAX_TAGS} tags of 1-32 [A-Za-z0-9._-]`];
  }
  return [];
}

/** A node's tags after a registration: `current` when the node's own list is the same as
 * its last registration's (`before`), else `current` without `before`'s tags and with
 * `after`'s. Sorted, without repeats. */
export function mergeTags(current: readonly string[], before: readonly string[], after: readonly string[]): string[] {
  if (sameTags(before, after)) return normalTags(current);
  return normalTags([...current.filter((tag) => !before.includes(tag)), ...after]);
}

export const normalTags = (tags: readonly string[]): string[] => [...new Set(tags)].sort();

const sameTags = (a: readonly string[], b: readonly string[]): boolean =>
  normalTags(a).join('\n') === normalTags(b).join('\n');
