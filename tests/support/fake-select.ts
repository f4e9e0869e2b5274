/**
 * Just enough of a browser's <select> and Option for running the pages' inline script in a
 * test: setting value to a missing option leaves it unset, as browsers do.
 */
export class FakeOption {
  constructor(
    public text = "",
    public value = "",
  ) {}
}
export function fakeSelect(values: string[], selected: string) {
  const options = values.map((v) => new FakeOption(v, v));
  let value = selected;
  return {
    options,
    get value() {
      return value;
    },
    set value(v: string) {
      value = options.some((o) => o.value === v) ? v : "";
    },
    add(o: FakeOption, before?: number) {
      options.splice(before ?? options.length, 0, o);
    },
  };
}
