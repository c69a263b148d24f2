// Exponential moving average with debiasing, as TensorBoard's scalar
// dashboard does it: starting the average at 0 and dividing by (1 - w^n)
// removes the pull toward zero in the first points. Non-finite values pass
// through unchanged and do not enter the average.
export function emaDebiased(values: (number | null)[], weight: number): (number | null)[] {
  if (weight <= 0) return values.slice();
  let last = 0;
  let n = 0;
  return values.map((v) => {
    if (v === null || !Number.isFinite(v)) return v;
    last = last * weight + (1 - weight) * v;
    n++;
    const debias = weight === 1 ? 1 : 1 - Math.pow(weight, n);
    return last / debias;
  });
}
