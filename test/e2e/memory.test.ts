import { Module, Tensor } from "../../lib";

/**
 * 10,000 create/forward/dispose cycles: resident memory must stop growing.
 * Compares the growth of the second half with the first: a leak of even one
 * 4 KiB tensor per cycle would add ~20 MB per half.
 */
test("10,000 create/forward/dispose cycles do not grow RSS", async () => {
  using m = Module.create("mlp", { in_features: 64, hidden_features: 64, out_features: 32 });
  const input = new Float32Array(16 * 64).fill(0.5);
  const cycle = async () => {
    const x = Tensor.from(input, [16, 64]);
    const y = await m.forwardTensor([x]);
    y.toFloat32Array();
    x.dispose();
    y.dispose();
  };
  for (let i = 0; i < 1000; i++) await cycle();  // warm-up: allocator pools, JIT
  const rss = [process.memoryUsage().rss];
  for (let half = 0; half < 2; half++) {
    for (let i = 0; i < 5000; i++) await cycle();
    rss.push(process.memoryUsage().rss);
  }
  const [start = 0, middle = 0, end = 0] = rss;
  const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
  console.log(`RSS: start ${mb(start)} MB, after 5,000 ${mb(middle)} MB, after 10,000 ${mb(end)} MB`);
  expect(end - middle).toBeLessThan(8 * 1024 * 1024);
});
