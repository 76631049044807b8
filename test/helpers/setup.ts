// jest runs tests in a vm context whose Symbol lacks Node 20's polyfilled
// Symbol.dispose; `using` and [Symbol.dispose]() need it in that realm.
const symbols = Symbol as unknown as { dispose?: symbol; asyncDispose?: symbol };
symbols.dispose ??= Symbol.for("nodejs.dispose");
symbols.asyncDispose ??= Symbol.for("nodejs.asyncDispose");
