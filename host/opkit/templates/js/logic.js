// The operator's logic as plain JavaScript, so it can be tested with node
// (`node --test`) without building a component.

/** Indexes of the rows whose value is at least `min`. */
export function rowsAtLeast(values, min) {
  const rows = [];
  for (let i = 0; i < values.length; i++) if (values[i] >= min) rows.push(i);
  return rows;
}
