/**
 * Mutation testing (`npm run mutate`): Stryker mutates the files whose correctness the DBiSL results rest on
 * and runs only the tests that check them (vitest.mutate.config.ts). Incremental: a rerun only tests the
 * mutants whose code or tests changed. Reports under reports/mutation/ (ignored by git).
 * One file: `npx stryker run --mutate src/models/safetensors.ts` (optionally MUTATE_TESTS=a.test.ts,b.test.ts).
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
/*
 * Equivalent mutants (they survive and cannot be killed: no observable change), by file and line of the source
 * they were found in; StrykerJS has no per-mutant list in its options, so they are listed here:
 * - losses.ts `needR2S = …` (every relaxation of a sub-condition, or `true`): T_r2s(R̂) computed when no term
 *   reads it changes no value, only the work done.
 * - losses.ts `s2rAll = cfg.con && cfg.conS2R ? …` (`true`, `||`): T_s2r(Ŷ) over the whole batch instead of
 *   the labeled rows only; supCrossMse reads the same rows of it.
 * - losses.ts input check `label.rank !== 5 || …` (that clause `false`): a label of another rank already fails
 *   the comparison of label.shape.slice(1) with seg.shape.slice(1).
 * - losses.ts `const a = detach(yU)` → `yU`: the block runs under noGrad, nothing is recorded either way.
 * - transform.ts contiguousCopy's shortcut `p.isContiguous && p.offset === 0 && p.storage.length === p.size`
 *   (`false`, or one clause `true`): it only decides whether to copy; a dense view at an offset already fails
 *   the length clause, and a prefix view's extra storage is never read.
 * - transform.ts the op name 'cdtDistance' given to record (shown in graph errors only).
 * - metrics.ts: loop bounds `i <= n` / `seed <= n` / the LCC's x-neighbour bounds and `--nextId` (reads and
 *   writes past a typed array's end are ignored in JavaScript; negative component ids work as well); summarize's
 *   `(r + mean)(r − mean)` (Σ(r² − mean²) = Σ(r − mean)²) and its `n === 0` guard (0/0 is NaN anyway); the
 *   `hd95: empty volume` check (unreachable: the directed distances throw first); percentile's lerp branch and
 *   pairwiseSum's block sizes (they change the last bit at most; numpy's exact arithmetic would need golden
 *   values from numpy itself).
 * - safetensors.ts the F16/BF16 decoding loop `i <= count`: the extra write lands past the typed array's end,
 *   which JavaScript ignores.
 * - safetensors.ts `Object.keys(itemBytes).join(', ')` separator in the error text (cosmetic).
 * - vnet.ts normLayer: InstanceNorm3d without `backend` (PyTorch's default InstanceNorm3d holds no tensor, so it
 *   lives on no backend), `case 'none'` falling through or renamed (undefined and null both mean "no norm layer");
 *   convBlock's `i === 0 ? cin : cout` → `cin` (every block with more than one conv has cin = cout); the input
 *   check's `x.rank !== 5` → `false` (a tensor of another rank also fails `x.shape[1] !== c` for every input the
 *   V-Net can take, or the shape test after it).
 * - dualtask/cpu.ts `a === 1` → `false` (σ(1·x + 0) = σ(x)), loop bounds `i <= n`, `weight || toWeight` (always set
 *   together).
 * - loss/cpu.ts the stable sigmoid's `x >= 0` → `true` / `> 0` (an ulp at most), loop bounds `r <= rows`, `k <= 3`,
 *   'l1' falling through to the unweighted 'mse' branch (the same value there); lossTotalBackward's scale's
 *   `group < 0 ? 0 :` → `false` (the element loop returns before it for a row in no group, so it is never called there).
 * - cdt/cpu.ts loop bounds `<=` (writes overwritten later or past the end), mirrored indices of the symmetric
 *   distance table, the log-sum-exp stabilizer (exact either way), `signed + 0` and `gs + 0` (never −0 there).
 * - losses.ts the needTarget / sharedCdt relaxations (extra work), `1/a.numel()` and the weighted pseMse item's
 *   `scale: 1 / n` (unused by the weighted MSE, which divides by Σw + eps); 'mask' → '' is
 *   killed only by the WebGPU test (test/dbisl/losses-edges.test.ts); LossTerms' `input < 0` (`true`, `<= 0`): a tensor
 *   that two terms read becomes two inputs of lossTotal, with the same values and its gradient the sum of both (only
 *   WebGPU's storage bindings, test/dbisl/loss-total-limits.test.ts, count them).
 * - transform.ts the memo bound `> 64` for `>= 64`, readFromStart always copying (one extra copy).
 * - optim.ts: the `lr` getter's `paramGroups[0]?.` (a group always exists); DeviceStepCounts.advance's
 *   `stepped.length === 0` return (`false`: a mask of zeros adds nothing; at least one parameter exists) and the
 *   mask's `stepped.length < n` (`true`, `<=`: an all-ones mask), view()'s strides of a [] view (never read);
 *   copyState's same-dtype shortcut `false` (a cast to the same dtype is a copy); the constructor's
 *   `list.length > 0` (`true`, `>= 0`: an empty list is refused as empty either way); SGD's `firstStep`
 *   (`h.momentum !== 0` → `true`: without momentum there is no buffer for it to set; `foundInf === null` → `true`:
 *   with dampening 0, the only one allowed there, buf = d and μ·0 + d agree up to the sign of a zero); each
 *   `stateTensor(p, fillZero)` choice (`true`/`false` swapped): the cpu backend allocates zeros, and a state that is
 *   not zero-filled is overwritten before it is read (first steps, loadSlot), so only a WebGPU pool's reused
 *   buffer could show it; `params.map(() => null)` → `undefined` in Adam/RMSprop (read only through `??=` and
 *   truthiness); Adam's `/betas$/` without `$` (no other key holds "betas"); Adam's stateDict `m && v` → `||`
 *   (set together); RMSprop's `weightDecay !== 0` → `true` (g + 0·w = g).
 * - optim/cpu.ts, gather/cpu.ts: loop bounds `i <= n` / `o <= outer` (reads past a typed array's end give
 *   undefined, writes there are ignored).
 * - losses.ts nllLoss's default reduction 'mean' → '' (any reduction other than 'none' and 'sum' takes the mean).
 * - loss-checks.ts classTargetWording's key `${op}:target` → '' (the key tells the WebGPU device reports of
 *   crossEntropy and nllLoss apart; the cpu backend throws at the call and never reads it; the WebGPU test in
 *   test/models/loss-targets.test.ts is what checks it).
 * - transforms-intensity.ts: mapImages' loop bound `i <= out.length` (the write past the end is ignored); the name
 *   given to mapImages (every caller has read the keys with readImage under its own name before); NormalizeIntensity's
 *   `n === 0 ||` → `false` (n is 0 only with nonzero and an all-zero volume, where `x === 0` holds for every voxel);
 *   scaleRange's `bMin !== undefined && bMax !== undefined` (`||`, either side `true`: the options check gives both or
 *   neither) and its clips' `clipMin !== undefined` → `true` (`y < undefined` is false), `<=` / `>=` (assigns the
 *   bound it equals).
 * - metric-classes.ts HausdorffDistanceMetric's `this.percentile !== null` → `true` (null ≥ 0 and null ≤ 100 hold).
 * - transforms.ts keyList's `typeof k === 'string'` → `true` (a non-string has no length > 0); readVolume's
 *   `typeof vol !== 'object'` → `false` (a primitive's `.data` is undefined, refused by the instanceof test);
 *   checkFinite's `typeof value !== 'number'` → `false` (Number.isFinite is false for non-numbers).
 * - transforms-spatial.ts: cropOrPad's empty-z shortcut `z1 <= z0` (`false`, `<`; an empty z range copies nothing)
 *   and its `x >= X` (`false`, `>`; a row past the end is an empty subarray); generateSpatialBoundingBox's `<=` / `>=`
 *   updates (the same value) and `x > hi[0]` → `true` (x only grows in the C-order scan); the loop bounds `<=` of
 *   orient, resample and the two axis tables (writes past a typed array's end are ignored); rot90Volume's flip arrays
 *   `[false, false, false]` → `[]` (undefined is falsy); interpolateTable's `inSize === outSize ? j :` → `false`
 *   (scale 1 gives ⌊j⌋ = j) and its clamps `inSize - 1` → `inSize + 1` (⌊j·in/out⌋ and ⌊(j + ½)·in/out − ½⌋ stay
 *   below in); Spacing's image mode 'trilinear' given to resampleKeys → '' (every mode but 'nearest' is trilinear in the tables);
 *   Spacing's spacing check `typeof x === 'number'` → `true` (Number.isFinite does not coerce); areaResample's
 *   same-size shortcut `n === m` → `false` (windows [j, j + 1) copy each value and divide by 1, exact in float64), its
 *   loop bounds `o <= outer` (reads and writes past the typed arrays' ends) and the division's `i <= inner` (the extra
 *   voxel is the next window's first, still 0 when divided, as windows are filled in order and never empty).
 * - schedules.ts linearRampup's `t >= length` → `t > length` (at t = L, t/L is exactly 1); the base scheduler's
 *   `lastLr = []` initializer (every subclass's constructor ends with applyLr(), which sets it before any read);
 *   loadStateDict's `typeof x === 'number'` → `true` (Number.isFinite does not coerce); CosineAnnealingLR's step-up
 *   test `epoch - 1 - tMax` → `epoch - 1 + tMax` (they differ by 2·tMax, the modulus: the same zeros); SequentialLR's
 *   milestone check `i > 0 &&` (`true`, `>=`) and step()'s `index > 0 &&` (`true`, `>=`): at i = 0 / index 0 the
 *   other side compares with milestones[−1], undefined, which is false; SequentialLR's own chainedLr (its throw
 *   emptied or renamed: unreachable, step() is its own and nesting is refused).
 * - segresnet.ts the default norm `['group', { numGroups: 8 }]` → `['group', {}]` (a group norm without numGroups has
 *   8 groups); normThenAct's `fusedWith([act], x)` → `fusedWith([], x)` (no fusion: the norm, then the ReLU, the same
 *   floats both ways, as the forward test checks; only one pass of work more).
 * - sliding-window.ts windowGrid's initial `[0, 0, 0]` / `[[], [], []]` emptied or given a string (the loop sets every
 *   element before anything reads it) and its `s < p ? p − s : 0` → `s <= p` (a pad of p − s = 0 either way); the loop
 *   bounds `<=` of gaussianImportanceMap (an axis a = 3 writes nothing; the extra profile value lands on the next axis's
 *   first, which overwrites it, or past the end), divideAndUnpad (the extra channel, row or voxel lands where the next
 *   one overwrites it, or past the end) and labelFromProbability (past the end); padVolume's no-padding shortcut →
 *   `false` (a copy of the same values); windowOffset's `origin[2] * strides[4]` → `/` (the volume and the score are
 *   dense: their last stride is 1).
 * - nifti.ts toArrayBuffer's whole-buffer shortcut (every relaxation, `false`, the SharedArrayBuffer clause): only a
 *   view that starts past its buffer's first byte must be copied, nifti-reader-js reads the header from byte 0 and
 *   reads a SharedArrayBuffer as well; num's bigint branch (nifti-reader-js returns numbers for NIfTI-2's int64
 *   fields); isGzip's `b.length >= 2` → `true` (b[1] of a shorter file is undefined); the `header.isHDR` check
 *   (unreachable: isNIFTI without isHdrImgPairOK already refuses the "ni1" magic); the sizes padding and trimming
 *   loops' `>= 3` / `<= 3` / `true` (a trailing 1 trimmed and put back, a fourth size never read); NIfTI-2's
 *   `row.slice(0, 4)` (the rows have 4 entries); affineToQuatern's polar iteration bounds and stop test (`<= 100`,
 *   `it--`, `next + m`, `false`, `<=`: only more iterations of a converged fixed point), `det = -det` (not read
 *   after), the branch boundaries `aa >= 0.5`, `xd >= 1`, `yd >= 1` (both formulas are exact there), the `aa`
 *   arithmetic of the three branches and `aa <= 0` (aa is only tested for its sign; at a = 0, q and −q are the same
 *   rotation), invert3's `<= 1e-300`; encodeNifti's default affine's bottom row `[]` and `aff.some` for
 *   `aff.slice(0, 3).some` (the bottom row is never read), the datatype default 'float32' → '' (anything but 'uint8'
 *   is float32), scl_inter 0 written big-endian (the same bytes), the description loop's `<=` (writes the NUL that is
 *   there), the uint8 loop's `z <= Z` (writes past the end are ignored) and clamps `<=` / `>=` (the same value),
 *   gzip `{ level: 6 }` → `{}` (6 is the default). Not killed on purpose: `det <= 0` (differs only for a singular
 *   affine, which has no rotation to encode; nifti1_io picks qfac −1 there); readNifti's readFile failure after
 *   fileProblem passed (a permission error, which the tests' root user never gets); the gzip-bomb limit's mutants
 *   (`maxOutputLength`, the ERR_BUFFER_TOO_LARGE message), killed by test/imaging/io/nifti-hostile.test.ts, which the
 *   related list leaves out for its 1 GiB of inflating per mutant.
 * - grad-scaler.ts loadStateDict's `this.on(backend, 'loadStateDict')` name (on() cannot throw there: the backend is
 *   the device state's own).
 * - checkpoint.ts checkFinite's int32 shortcut (`false`, `''`: an int32 tensor holds no NaN or Inf); the
 *   `strict ?? true` → `strict && true` of loadModel and loadTrainingCheckpoint (undefined reaches loadHostStateDict's
 *   default `strict = true` and decodeSafetensors' `strict ?? true`); loadTrainingCheckpoint's `typeof optMeta !==
 *   'object'` → `false` (a JSON number, string or boolean has no `type`); the extra models' `extraMeta[name]?.dropout` → `.`
 *   (every extra model's entry exists: an absent one was refused before); the dropout restore's `loadDropoutState(…, false)`
 *   → `true` (the state restored is the module's own, strict or not); `restore.reverse()` → `restore` (the undos, of the
 *   generator, each model's dropout layers and the scheduler, touch disjoint state: their order changes nothing).
 * - transforms-brats.ts the channel-first loop's bound `i <= n` (the extra 0 lands on the next channel's first voxel,
 *   which that channel then writes, or past the end).
 * - models/losses.ts (torch.nn.functional's and MONAI's losses; not dbisl/losses.ts above): the `options.reduction ??
 *   'mean'` → '' of multiClassDiceLoss, generalizedDiceLoss and tverskyLoss (monaiInputs has checked the reduction; any
 *   value but 'none' and 'sum' takes the mean); diceFocalLoss's alpha check `alpha !== null` → `true` (null ≥ 0 and
 *   null ≤ 1 hold, so null passes either way); probabilityCrossEntropy's `smoothing > 0 ?` (`true`, `>= 0`: at ε = 0
 *   the affine map is 1·y + 0 = y exactly); the fused-reduction shortcuts of binaryCrossEntropyWithLogits (`false`, an
 *   empty block) and mseLoss (`false`, an empty block): the unfused path computes the same formula in another summation
 *   order, only the work done changes; focalLoss's `gamma !== 0` → `true` ((1 − p_t)⁰ = 1).
 * - data/sampler.ts validateConfig's `L > 0 &&` (`true`, `>=`: at L = 0 no list is shorter than 0) and nextPlan's
 *   `L > 0` (`true`, `>=`: a permutation of 0 ids draws nothing and leaves the stream at its start); nextPlan's
 *   `order.length === 0 ||` → `false` of both streams (an empty order at position 0 already fails `pos + L <= 0`
 *   and passes `pos >= 0`).
 * - data/augment.ts the loop bounds `<=` of rot90xy and flipAxis (they write into their own fresh output: the extra
 *   row or voxel lands where the next one overwrites it, or past the end) and cropVolume's check `i <= 3`
 *   (offset[3] and patch[3] are undefined: both comparisons are false).
 * - edt.ts dt1d: the copy's bound `q <= n` (f[n] is never read); `k < 0` → `false` and its block emptied (the first
 *   site then meets v[−1] = undefined: s is NaN, `NaN <= z[−1]` is false, so it is pushed with z[0] = NaN instead of
 *   −∞, and a comparison with z[0] is false either way); `s <= z[k]` → `<` and `z[k + 1] < q` → `<=` (at a tie both
 *   parabolas give the same value); the no-site line's fill (`q < n` → `false`, `>=`, `q / stride`: every value of
 *   such a line is +∞ already, so that loop is redundant); separable's `Z > 1` → `>=` (a line of length 1 is its own
 *   transform) and its bound `l <= X * Y`; the loop bounds `<=` of edtSquared, edt, faceBoundary and computeSdf
 *   (writes past a typed array's end are ignored, reads there give undefined or NaN, which compare false); innerBoundary's 'reflect' → '' (every mode but 'background' reflects); computeSdf's
 *   `v < lo` → `<=` and `v > hi` → `>=` (the same value).
 * - io/la.ts checkHdf5File's signature scan `off - 8` (reads past the head are undefined, never a signature byte); the
 *   label's loop bounds `<=` (lb[n] > 1 is false); `f.file_id < 0n` → `<=` (HDF5 ids are positive). Not killed on
 *   purpose: the file handle's and the wasm buffer's release (`fh.close()`, `M._free(ptr)`, the `f.close()` block and
 *   its `f && f.file_id >= 0n`: a leak, nothing a test reads); the open or read failing after fileProblem passed (a
 *   permission error, which the tests' root user never gets); `ptr === 0` (a failed malloc, unreachable below the
 *   size cap); the size cap's `>=` (a read of exactly 1 GiB per mutant); `md.type === 0` → `true` (needs a one-byte
 *   unsigned type that is not an integer); the rewrap of an error that does not name the file (h5wasm throwing inside
 *   readDataset, which no file written here makes it do) and h5wasm's File constructor throwing (it returns a negative
 *   id for every broken file tried here).
 * - norm/cpu.ts the channel loop bounds `k <= channels` / `k <= r.length` (writes past a typed array's end are
 *   ignored); normalized's `y <= 0` → `<` (a zero output either way, but for the sign of a −0 from a −0 bias);
 *   normBackward's `sum && dot` → `||` (set together from `sums`).
 * - interpolate/cpu.ts the loop bounds `dst <= outSize` and `c <= nc` (writes past a typed array's end are ignored); the
 *   trilinear `min(floor(src), inSize − 1)` → `inSize + 1` (src < inSize always: the bound is a guard).
 * - conv3d/cpu.ts the bias fills' bounds `i <= y.length` / `i <= gx.length` and applyEpilogue's `base <= out.length`
 *   (writes past a typed array's end are ignored; the last makes the inner loop start there).
 * - pool/cpu.ts the loop bounds `nc <= g.nc` of eachWindowVoxel and divisors and avgPool3d's `o <= sum.length` (the
 *   extra window's reads give undefined, its writes land past a typed array's end).
 * - grid-sample/cpu.ts `dpos *= reflected.sign` → `/=` (the sign is ±1, or 0 for a one-voxel axis with alignCorners,
 *   where pos is 0 and the clamp then sets dpos = 0); reflect's `x < 0` → `<=` (x = 0 is pos = low ≤ 0, which the
 *   clamp takes to 0 with dpos 0); the loop bounds `n <= gridShape[0]` (the extra sample's grid reads undefined, a NaN
 *   position with no corner inside; its writes land past the end) and gridSample's `c <= C` (the extra channel's
 *   write lands on the next sample's channel 0, which that sample writes later, or past the end).
 * - elementwise/cpu.ts: max and min's `Number.isNaN(x) || Number.isNaN(y) ? NaN :` (`false`, `&&`: Math.max and
 *   Math.min return NaN for a NaN already; the guard states PyTorch's rule, which the WGSL needs); erf's NaN return
 *   (`false`: the series of NaN is NaN) and `a >= 6` → `>` (the series gives 1 at 6 as well); sigmoid's `x >= 0` →
 *   `> 0` (both forms give ½ at 0); cast's int32 branch (`false`, `''`: an Int32Array store truncates toward zero as
 *   Math.trunc does, NaN to 0 either way); unary's default params `[]` → a string (only the ops that take params read
 *   them, and their callers pass them); the loop bounds `<=` of binary, where and cast (writes past the end).
 * - matmul/cpu.ts the loop bounds `t <= batch`, `i <= m`, `j <= n` (the extra row or batch is written where the next
 *   one is written later, or past the end; row[n] and out past the end are ignored).
 * - reduce/cpu.ts the loop bounds `o <= outer.length` (a write past the end) and the NaN branch of max/min (`false`,
 *   `&&`: Math.max and Math.min propagate NaN by themselves).
 * With the kernels' WebGPU tests in the list, only the cpu tests run (vitest.mutate.config.ts's default name filter,
 * '^(?!.*([Ww]eb[Gg][Pp][Uu]|WGSL|fused Dice|LA-sized volume|both backends|conv3d golden values|grouped conv3d
 * benchmark|the other unary ops keep NaN|backward = central differences))'): Stryker's worker threads find no adapter
 * here. Some test names say webgpu; the WGSL bias correction, the fused Dice gradients, conv3d's golden values, the
 * grouped conv3d benchmark cases and elementwise's 'the other unary ops keep NaN' run on WebGPU without saying so;
 * test/kernels/interpolate.test.ts's scales check runs "on both backends"; and a cpu test whose name says
 * WebGPU (say, "one dispatch on WebGPU") is left out too: such a test kills nothing here. The LA-sized volume of
 * test/imaging/edt.test.ts takes about 50 s under Stryker's instrumented edt.ts, past the test timeout, and so does
 * pool.test.ts's maxPool3d 'backward = central differences' (over 120 s instrumented; pool-cpu-oracle.test.ts checks the
 * backward against a scatter of gy by the indices). The LA tests
 * on the real data skip themselves in Stryker's sandbox (no ../shared there).
 * - metric-classes-more.ts: `ratio`'s `b !== 0` → `true` (every numerator is a part of its denominator's counts, so
 *   it is 0 where they are: 0/0 is NaN anyway; pt's numerator √(tpr·(1 − tnr)) + tnr − 1 is 0 where tpr + tnr = 1,
 *   exactly in float64 for every p, n < 40 tried); GeneralizedDiceScore's `predVolume += na` → `-=` (a sum of counts
 *   ≥ 0 is compared with 0 only) and aggregate's name given to doMetricReduction (the reduction is checked in the
 *   constructor and aggregate takes none); SurfaceDiceMetric's `typeof t === 'number'` → `true` (Number.isFinite is
 *   false for non-numbers).
 * - metrics-classification.ts: columnAuc's tie loop `end < order.length` (`true`, `<=`: the score read past the end is
 *   undefined, never equal to one); the 'weighted' weights' `s + v` → `s - v` (every weight and their total negated,
 *   the same ratio); ROCAUCMetric.buffer's `C === undefined` → `false` (before any batch both branches give empty lists).
 * - autograd/attention.ts causalMask's loop bound `i <= l` (the extra row's writes land past the typed array's end).
 * - norm-act.ts normThenAct's `fusedWith([act], x)` → `fusedWith([], x)` (no fusion: the norm, then the activation, the
 *   same floats, as segresnet.ts's).
 * - dynunet.ts normLayer's `'numGroups' in args` → `'' in args` (reached only when normLayerOf found no group count, so
 *   numGroups is absent either way); Convolution's `triple(…, 'DynUNet … kernel size')` / `'… stride'` labels and
 *   checkLevelSizes' `level ${level}` label (given triples and paddings the constructor has already checked: they
 *   never throw there); the dropout check's `dropout !== null` → `true` (null ≥ 0 and null ≤ 1 hold);
 * - resnet.ts `options.biasDownsample ?? true` → `&& true` (undefined reaches Conv3d's options as `bias: undefined`, and
 *   Conv3d's default is a bias: the same layer). UnetResBlock's `this.conv3 && this.norm3` → `||` (set together); `heads` filled with
 *   `() => undefined` for `() => null` (the head check is `!h`); Convolution's `${path}.conv` seed and
 *   `weightInit === 'heNormal'` → `true` for DynUNet (He-normal overwrites every weight and zeroes every bias; only
 *   UNETR's weightInit 'default' reads them, and unetr.ts's tests are not in this run).
 * - transforms-post.ts (cpu-only tests, the mutation runs' rule): channelAxis' `dim < 0 ? dim + rank : dim` → `dim`
 *   (softmax and argmax take negative axes themselves); oneHotAlong's `rank < dim + 1` → `<=` (a reshape to the same
 *   shape) and the int32 test → always cast (a cast to its own dtype is a view); the loops' `i < n` → `<=` (reads past a
 *   typed array's end are undefined on both sides); presentLabels' sort and its sum test `> 0` → `>= 0` / `true` and
 *   `c < channels` → `<=` (labels are cleaned independently of their order, an empty channel is left as it is);
 *   `fromArray(values, shape, {})` (the cpu is the default backend and the typed array gives the dtype).
 * - edt.ts chamferDistanceToSet: the neighbour list's `precedes` test (more neighbours in either pass leave the two-pass
 *   chamfer distances exact: a neighbour's value is always an upper bound) and its `dx < 1` bound; the x bounds
 *   `nx < 0`, `nx >= X` and the backward start `X + 1` (an index past the volume reads undefined, whose sum is NaN and
 *   never smaller); `candidate <= best`. metrics.ts connectedComponents' x bounds `x0`/`x1` (undefined is not a
 *   label 0, so nothing past the volume joins) and the `<=` loop bounds here and in directed() and largestComponents
 *   (reads past the end); metric-classes.ts callBatch's `y.shape.length !== 5` (the shape comparison catches it).
 * - monai-blocks.ts (cpu-only tests): the act and norm factories' `[undefined, null]` for a spec that is neither a string
 *   nor an array → `[]` (undefined args are refused as unknown, the same error as the unknown name), the act args check
 *   `args !== null` → `true` (typeof null is 'object' and null is no array); samePadding's `(n − 1)·d` → `(n + 1)·d` in
 *   the evenness test (n − 1 and n + 1 have the same parity); ADN's `dropout !== null` → `true` (null ≥ 0 and null ≤ 1
 *   hold) and `c === undefined ||` → `false` (Number.isInteger(undefined) is false); Convolution's and the residual's
 *   `bias ?? true` → `bias && true` (undefined reaches Conv3d, whose default is a bias); ResidualUnit's 'ResidualUnit
 *   strides' label (the first unit's Conv3d refuses a bad stride first).
 * - monai-unet.ts `options.bias ?? true` → `bias && true` (undefined reaches MonaiConvolution and ResidualUnit, whose
 *   default is a bias).
 * - basic-unet.ts UpCat's padding shortcut `pads.some((p) => p !== 0)` (`true`, either side, `p === 0`: a replicate pad
 *   of 0 voxels is a copy of the same values); the `bias ?? true` → `bias && true` of SubpixelUpsample's conv_block and
 *   the network's context (undefined reaches Conv3d and MonaiConvolution, whose default is a bias).
 * - attention-unet.ts the `channels.join(', ')` separator of the "needs at least 2 entries" error (0 or 1 entries:
 *   no separator is ever written).
 * - densenet.ts the transitions' `new AvgPool3d(2, { stride: 2 })` → `{}` (a pool's stride defaults to its kernel size);
 *   the size check's 'pool0 …' label (unreachable: conv0 leaves at least one voxel of a non-empty axis, and pool0's
 *   ⌊(n − 1)/2⌋ + 1 keeps at least one of those; an empty axis is named at conv0).
 * - voxelmorph.ts the dropout check's `dropout !== null` → `true` (null ≥ 0 and null ≤ 1 hold); `finalConvAct === null ?
 *   null :` → `false` (voxelMorphAct(null) returns null); the max pool's `{ stride: 2 }` → `{}` (the stride defaults to
 *   the kernel size).
 * - vit.ts sincosPositionEmbedding3d's loop bound `h <= gh` (the extra rows' writes land past the Float64Array's end).
 * - unetr.ts the blocks' context `weightInit: 'default'` → '' (DynUNet's Convolution only tests for 'heNormal').
 * - segresnet-ds.ts scalesForResolution's `nStages > most` → `>=` (at nStages = most no level is appended) and
 *   `nStages !== undefined` → `true` (slice(0, undefined) keeps every level); UpSample's `inChannels !== outChannels` →
 *   `true` and the group test's `inChannels % outChannels === 0` → `true` (the network's upsamplings always take 2c
 *   channels to c); the transposed conv's output padding `scale − 1 − (k − 1) % 2` → `+` and `k − 1` → `k + 1` (the
 *   kernels are 1 or 3, where both remainders are 0); withAffine's 'batch' and 'group' → '' (BatchNorm3d and GroupNorm
 *   are affine by default, so MONAI's added affine: true changes nothing), its `args === null` → `false` (args is null
 *   only for a norm that is no array or string, whose name is then no string: returned before) and `[norm, null]` → `[]`
 *   (the same return).
 * - highresnet.ts ChannelPad's `inChannels > outChannels` → `>=` (equal channels have returned before); the default norm
 *   `['batch', { affine: true }]` → `['batch', {}]` of HighResBlock and HighResNet (BatchNorm3d is affine by default);
 *   positiveInteger's `typeof v === 'number'` → `true` (Number.isInteger is false for non-numbers); checkLayerParams'
 *   `if (i === 0) channels = …` → `true` (it then also sets the channels at the last two entries, which no group after
 *   them reads).
 * - basic-unetplusplus.ts the node's `out = i === 0 && j === 4 ? …` → `j === 4 ? …` (j = 4 only with i = 0, as i + j ≤ 4);
 *   the forward's `skips.length === 1 ? skips[0] :` → `false` (concat of one tensor is a copy of it: the same values and
 *   gradient).
 */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutate.config.ts', related: false },
  mutate: [
    'src/dbisl/losses.ts',
    'src/dbisl/transform.ts',
    'src/models/safetensors.ts',
    'src/imaging/metrics.ts',
    'src/models/vnet.ts',
    'src/kernels/dualtask/checks.ts',
    'src/kernels/dualtask/cpu.ts',
    'src/kernels/loss/checks.ts',
    'src/kernels/loss/cpu.ts',
    'src/kernels/cdt/checks.ts',
    'src/kernels/cdt/cpu.ts',
    'src/models/optim.ts',
    'src/kernels/optim/cpu.ts',
    'src/kernels/optim/bias-correction.ts',
    'src/models/loss-checks.ts',
    'src/kernels/gather/cpu.ts',
    'src/imaging/transforms.ts',
    'src/imaging/transforms-intensity.ts',
    'src/imaging/transforms-spatial.ts',
    'src/imaging/metric-classes.ts',
    'src/models/schedules.ts',
    'src/models/segresnet.ts',
    'src/imaging/sliding-window.ts',
    'src/imaging/io/nifti.ts',
    'src/models/grad-scaler.ts',
    'src/models/checkpoint.ts',
    'src/imaging/transforms-brats.ts',
    'src/models/losses.ts',
    'src/models/loss-modules.ts',
    'src/imaging/data/sampler.ts',
    'src/imaging/data/augment.ts',
    'src/imaging/edt.ts',
    'src/imaging/io/la.ts',
    'src/kernels/norm/cpu.ts',
    'src/kernels/interpolate/cpu.ts',
    'src/kernels/conv3d/cpu.ts',
    'src/kernels/pool/cpu.ts',
    'src/kernels/reduce/cpu.ts',
    'src/kernels/grid-sample/cpu.ts',
    'src/kernels/elementwise/cpu.ts',
    'src/kernels/matmul/cpu.ts',
    'src/imaging/metrics-classification.ts',
    'src/imaging/metric-classes-more.ts',
    'src/autograd/attention.ts',
    'src/models/transformer.ts',
    'src/models/norm-act.ts',
    'src/models/dynunet.ts',
    'src/models/resnet.ts',
    'src/imaging/transforms-post.ts',
    'src/models/monai-blocks.ts',
    'src/models/monai-unet.ts',
    'src/models/basic-unet.ts',
    'src/models/attention-unet.ts',
    'src/models/densenet.ts',
    'src/models/voxelmorph.ts',
    'src/models/monai-vnet.ts',
    'src/models/vit.ts',
    'src/models/unetr.ts',
    'src/models/segresnet-ds.ts',
    'src/models/highresnet.ts',
    'src/models/basic-unetplusplus.ts',
  ],
  coverageAnalysis: 'perTest',
  // Stryker rewrites the sandbox's tsconfig through TypeScript's JS API, which TypeScript 7 (native) lacks; ours
  // has no `extends` or `references` to rewrite, so point it at no file and the step is skipped.
  tsconfigFile: 'no-tsconfig-to-rewrite.json',
  // static mutants (module-level code, run once at import) need a reload per mutant that the vitest runner does
  // not do: they show as survivors without being tested (e.g. safetensors' big-endian guard)
  ignoreStatic: true,
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: 'reports/mutation/.stryker-tmp',
  cleanTempDir: true,
  concurrency: 2,
  timeoutMS: 60_000,
  thresholds: { high: 90, low: 75, break: null },
};
