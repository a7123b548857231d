namespace GpuViT.Kernels.Library;

/// <summary>
/// The dense whole-image recurrent net's kernels. The state is NCHW: [image][channel][y][x], and a
/// hidden unit is (channel, y, x), numbered unit = (c·H + y)·W + x. Unshared weights are
/// row-blocked, [C][H][W/lanes][taps][lanes] with the tap index j = (source channel·k + dy)·k + dx: neighbouring
/// threads (neighbouring x) read neighbouring floats for every tap, so a warp's loads coalesce, and
/// the cpu streams one contiguous block per image row. Within a row the units are blocked by
/// <see cref="WeightLanes"/> (when W is a multiple of it): [W / lanes][taps][lanes], so eight
/// neighbouring units' weights for one tap are one 32-byte sector (a warp reads whole sectors) and
/// the cpu reads the whole row block front to back, one vector per tap.
/// </summary>
public static class Rnn
{
    /// <summary>Units per weight block along a row: a 32-byte sector, one 256-bit vector.</summary>
    public const int WeightLanes = 8;

    /// <summary>Index of tap j of unit (row = c·H + y, x) in an unshared weight tensor with <paramref name="taps"/> taps per unit.</summary>
    [DeviceFunction]
    public static int UnsharedWeightIndex(int row, int x, int j, int taps, int width)
    {
        int lanes = width % WeightLanes == 0 ? WeightLanes : 1;
        return UnsharedWeightBase(row * width + x, x % lanes, taps) + j * lanes;
    }

    /// <summary>
    /// Index of tap 0 of a unit in an unshared weight tensor with <paramref name="taps"/> taps per unit,
    /// <paramref name="lane"/> being the unit's place in its row block (its block starts lane units
    /// earlier); tap j is j·lanes further on.
    /// </summary>
    [DeviceFunction]
    public static int UnsharedWeightBase(int unit, int lane, int taps) => (unit - lane) * taps + lane;

    /// <summary>φ, the step's activation: ReLU, or tanh.</summary>
    [DeviceFunction]
    public static float Phi(float sum, bool relu) => relu ? KernelMath.Max(sum, 0f) : KernelMath.Tanh(sum);

    /// <summary>
    /// φ of one unit's sums for a pass of up to <see cref="ImagesPerThread"/> images into next:
    /// sums[first + j] is image + j's, stored when the batch has that image.
    /// </summary>
    [DeviceFunction]
    public static void StoreImages(ReadWriteView<float> next, int units, int unit, int image, int batch, Span<float> sums, int first, bool relu)
    {
        for (int j = 0; j < ImagesPerThread; j++)
        {
            if (image + j < batch)
            {
                next[(image + j) * units + unit] = Phi(sums[first + j], relu);
            }
        }
    }

    /// <summary>Channels of the input image.</summary>
    public const int InputChannels = 3;

    /// <summary>Images one thread of the unshared step and of the per-unit readout computes at a time: each weight it loads serves them all.</summary>
    public const int ImagesPerThread = MicroTiles.Size;

    /// <summary>
    /// One step of the unshared (locally connected) net for one unit of up to four images (global X:
    /// unit, Y: group of <see cref="ImagesPerThread"/> images): next = φ(W_in ⊛ input + W_rec ⊛ state + b),
    /// zero padding at the borders. Each weight is read once per four images, not once per image.
    /// A short last group repeats its last image and stores only the real ones. The first version,
    /// kept beside <see cref="RnnStepUnsharedStreaming"/> for the benchmark: a batch of eight reads
    /// every weight twice, and the per-tap branches keep about one weight load in flight per thread.
    /// Its four sums stay written out: as a register array with unrolled loops this baseline would
    /// take 44 registers on sm_90, not 40 (NVRTC 11.8).
    /// </summary>
    [Kernel]
    public static void RnnStepUnshared(
        KernelThread thread, ReadOnlyView<float> input, ReadOnlyView<float> state, ReadOnlyView<float> inputWeights,
        ReadOnlyView<float> recurrentWeights, ReadOnlyView<float> bias, ReadWriteView<float> next,
        int batch, int channels, int height, int width, int kernel, bool relu)
    {
        int unit = thread.Global.X;
        int image0 = thread.Global.Y * ImagesPerThread;
        int positions = height * width;
        int units = channels * positions;
        if (unit < units && image0 < batch)
        {
            int image1 = KernelMath.Min(image0 + 1, batch - 1);
            int image2 = KernelMath.Min(image0 + 2, batch - 1);
            int image3 = KernelMath.Min(image0 + 3, batch - 1);
            int c = unit / positions;
            int p = unit - c * positions;
            int y = p / width;
            int x = p - y * width;
            int r = kernel / 2;
            int taps = kernel * kernel;
            int row = c * height + y;
            float sum0 = bias[unit];
            float sum1 = sum0;
            float sum2 = sum0;
            float sum3 = sum0;
            int inputImage = InputChannels * positions;
            for (int ci = 0; ci < InputChannels; ci++)
            {
                for (int dy = 0; dy < kernel; dy++)
                {
                    int yy = y + dy - r;
                    for (int dx = 0; dx < kernel; dx++)
                    {
                        int xx = x + dx - r;
                        if (yy >= 0 && yy < height && xx >= 0 && xx < width)
                        {
                            int j = (ci * kernel + dy) * kernel + dx;
                            float w = inputWeights[UnsharedWeightIndex(row, x, j, InputChannels * taps, width)];
                            int at = (ci * height + yy) * width + xx;
                            sum0 += w * input[image0 * inputImage + at];
                            sum1 += w * input[image1 * inputImage + at];
                            sum2 += w * input[image2 * inputImage + at];
                            sum3 += w * input[image3 * inputImage + at];
                        }
                    }
                }
            }

            for (int ci = 0; ci < channels; ci++)
            {
                for (int dy = 0; dy < kernel; dy++)
                {
                    int yy = y + dy - r;
                    for (int dx = 0; dx < kernel; dx++)
                    {
                        int xx = x + dx - r;
                        if (yy >= 0 && yy < height && xx >= 0 && xx < width)
                        {
                            int j = (ci * kernel + dy) * kernel + dx;
                            float w = recurrentWeights[UnsharedWeightIndex(row, x, j, channels * taps, width)];
                            int at = (ci * height + yy) * width + xx;
                            sum0 += w * state[image0 * units + at];
                            sum1 += w * state[image1 * units + at];
                            sum2 += w * state[image2 * units + at];
                            sum3 += w * state[image3 * units + at];
                        }
                    }
                }
            }

            next[image0 * units + unit] = Phi(sum0, relu);
            if (image0 + 1 < batch)
            {
                next[image1 * units + unit] = Phi(sum1, relu);
            }

            if (image0 + 2 < batch)
            {
                next[image2 * units + unit] = Phi(sum2, relu);
            }

            if (image0 + 3 < batch)
            {
                next[image3 * units + unit] = Phi(sum3, relu);
            }
        }
    }

    /// <summary>
    /// One step of the shared (convolutional) net: a direct convolution, one thread per unit of one
    /// image; W_in [C][3][k][k], W_rec [C][C][k][k], b [C], the same for every position.
    /// </summary>
    [Kernel]
    public static void RnnStepShared(
        KernelThread thread, ReadOnlyView<float> input, ReadOnlyView<float> state, ReadOnlyView<float> inputWeights,
        ReadOnlyView<float> recurrentWeights, ReadOnlyView<float> bias, ReadWriteView<float> next,
        int batch, int channels, int height, int width, int kernel, bool relu)
    {
        int unit = thread.Global.X;
        int image = thread.Global.Y;
        int positions = height * width;
        int units = channels * positions;
        if (unit < units && image < batch)
        {
            int c = unit / positions;
            int p = unit - c * positions;
            int y = p / width;
            int x = p - y * width;
            int r = kernel / 2;
            float sum = bias[c];
            for (int ci = 0; ci < InputChannels; ci++)
            {
                for (int dy = 0; dy < kernel; dy++)
                {
                    int yy = y + dy - r;
                    for (int dx = 0; dx < kernel; dx++)
                    {
                        int xx = x + dx - r;
                        if (yy >= 0 && yy < height && xx >= 0 && xx < width)
                        {
                            sum += inputWeights[((c * InputChannels + ci) * kernel + dy) * kernel + dx] * input[((image * InputChannels + ci) * height + yy) * width + xx];
                        }
                    }
                }
            }

            for (int ci = 0; ci < channels; ci++)
            {
                for (int dy = 0; dy < kernel; dy++)
                {
                    int yy = y + dy - r;
                    for (int dx = 0; dx < kernel; dx++)
                    {
                        int xx = x + dx - r;
                        if (yy >= 0 && yy < height && xx >= 0 && xx < width)
                        {
                            sum += recurrentWeights[((c * channels + ci) * kernel + dy) * kernel + dx] * state[((image * channels + ci) * height + yy) * width + xx];
                        }
                    }
                }
            }

            next[image * units + unit] = Phi(sum, relu);
        }
    }

    /// <summary>
    /// The first readout, kept beside the reductions that replace it (<see cref="RnnPoolChannels"/>,
    /// <see cref="RnnReadoutUnits"/>) for the benchmark: one thread per (class: global X, image: Y),
    /// each re-reading (pooled: and re-averaging) the whole state, so one image launches only
    /// ⌈classes/64⌉ groups. Pooled: the state's mean over positions, [C], times weights
    /// [classes][C]; per unit: all C·H·W values times [classes][C·H·W].
    /// </summary>
    [Kernel]
    public static void RnnReadout(
        KernelThread thread, ReadOnlyView<float> state, ReadOnlyView<float> weights, ReadOnlyView<float> bias, ReadWriteView<float> logits,
        int batch, int channels, int positions, int classes, bool pooled)
    {
        int k = thread.Global.X;
        int image = thread.Global.Y;
        if (k < classes && image < batch)
        {
            int units = channels * positions;
            float sum = 0f;
            if (pooled)
            {
                float scale = 1f / (float)positions;
                for (int c = 0; c < channels; c++)
                {
                    float mean = 0f;
                    for (int p = 0; p < positions; p++)
                    {
                        mean += state[image * units + c * positions + p];
                    }

                    sum += weights[k * channels + c] * (mean * scale);
                }
            }
            else
            {
                for (int u = 0; u < units; u++)
                {
                    sum += weights[k * units + u] * state[image * units + u];
                }
            }

            logits[image * classes + k] = sum + bias[k];
        }
    }

    /// <summary>Output channels one thread of <see cref="RnnStepUnsharedStreaming"/> computes: each state value it loads serves them all.</summary>
    public const int ChannelsPerThread = MicroTiles.Size;

    /// <summary>
    /// One step of the unshared net as a bandwidth kernel (it replaces <see cref="RnnStepUnshared"/>
    /// on devices; both are kept and benchmarked side by side). A thread per (group of
    /// <see cref="ChannelsPerThread"/> output channels, position: global X, position fastest)
    /// computes those four units of every image of the batch, in passes of up to
    /// <see cref="ImagesPerThread"/> images: so every weight crosses device memory once per batch
    /// (a second pass finds it in L1/L2), and every state value loaded serves four channels (the
    /// first version loaded one per weight per image, which at batch 8 makes the L1, not the
    /// memory, the limit). The loops run window position outside and source channels inside: the
    /// border test is made once per position (zero padding: the tap is skipped), and the channel
    /// loop is a straight body of four weight loads that the compiler unrolls, so a dozen or more
    /// independent loads can be in flight per thread. A lone image (batch 1, or the last of an odd batch) takes a
    /// one-image pass instead of computing three copies of it; a last channel group short of four
    /// repeats its last channel and stores only the real ones.
    /// </summary>
    [Kernel]
    public static void RnnStepUnsharedStreaming(
        KernelThread thread, ReadOnlyView<float> input, ReadOnlyView<float> state, ReadOnlyView<float> inputWeights,
        ReadOnlyView<float> recurrentWeights, ReadOnlyView<float> bias, ReadWriteView<float> next,
        int batch, int channels, int height, int width, int kernel, bool relu)
    {
        int positions = height * width;
        int units = channels * positions;
        int channelGroups = (channels + ChannelsPerThread - 1) / ChannelsPerThread;
        int index = thread.Global.X;
        if (index < channelGroups * positions)
        {
            int group = index / positions;
            int p = index - group * positions;
            int y = p / width;
            int x = p - y * width;
            int c0 = group * ChannelsPerThread;
            int lanes = width % WeightLanes == 0 ? WeightLanes : 1;
            int lane = x % lanes;
            int taps = kernel * kernel;

            // Every register array here is indexed only by unrolled constant-bound loops (channel i,
            // image j), so all stay in registers. Tap 0 of each unit in each weight tensor; tap j is
            // j·lanes further on.
            Span<int> unitOf = stackalloc int[ChannelsPerThread];
            Span<float> starts = stackalloc float[ChannelsPerThread];
            ThreadUnits(bias, unitOf, starts, c0, channels, positions, p);
            Span<int> inputBases = stackalloc int[ChannelsPerThread];
            Span<int> recurrentBases = stackalloc int[ChannelsPerThread];
            for (int i = 0; i < ChannelsPerThread; i++)
            {
                inputBases[i] = UnsharedWeightBase(unitOf[i], lane, InputChannels * taps);
                recurrentBases[i] = UnsharedWeightBase(unitOf[i], lane, channels * taps);
            }

            // sums[i·ImagesPerThread + j]: channel c0 + i of image + j.
            Span<int> inputAt = stackalloc int[ImagesPerThread];
            Span<int> stateAt = stackalloc int[ImagesPerThread];
            Span<float> sums = stackalloc float[ChannelsPerThread * ImagesPerThread];
            Span<float> weights = stackalloc float[ChannelsPerThread];
            Span<float> values = stackalloc float[ImagesPerThread];
            int inputImage = InputChannels * positions;
            int image = 0;
            while (image < batch)
            {
                if (batch - image >= 2)
                {
                    // Up to four images; a short pass repeats its last image and stores only the real ones.
                    for (int j = 0; j < ImagesPerThread; j++)
                    {
                        int imageJ = KernelMath.Min(image + j, batch - 1);
                        inputAt[j] = imageJ * inputImage;
                        stateAt[j] = imageJ * units;
                    }

                    for (int i = 0; i < ChannelsPerThread; i++)
                    {
                        for (int j = 0; j < ImagesPerThread; j++)
                        {
                            sums[i * ImagesPerThread + j] = starts[i];
                        }
                    }

                    for (int t = 0; t < taps; t++)
                    {
                        int dy = t / kernel;
                        int yy = y + dy - kernel / 2;
                        int xx = x + t - dy * kernel - kernel / 2;
                        if (yy >= 0 && yy < height && xx >= 0 && xx < width)
                        {
                            int window = yy * width + xx;
                            for (int ci = 0; ci < InputChannels; ci++)
                            {
                                int tap = (ci * taps + t) * lanes;
                                int at = ci * positions + window;
                                for (int i = 0; i < ChannelsPerThread; i++)
                                {
                                    weights[i] = inputWeights[inputBases[i] + tap];
                                }

                                for (int j = 0; j < ImagesPerThread; j++)
                                {
                                    values[j] = input[inputAt[j] + at];
                                }

                                MicroTiles.OuterProductAdd(sums, weights, values);
                            }

                            for (int ci = 0; ci < channels; ci++)
                            {
                                int tap = (ci * taps + t) * lanes;
                                int at = ci * positions + window;
                                for (int i = 0; i < ChannelsPerThread; i++)
                                {
                                    weights[i] = recurrentWeights[recurrentBases[i] + tap];
                                }

                                for (int j = 0; j < ImagesPerThread; j++)
                                {
                                    values[j] = state[stateAt[j] + at];
                                }

                                MicroTiles.OuterProductAdd(sums, weights, values);
                            }
                        }
                    }

                    for (int i = 0; i < ChannelsPerThread; i++)
                    {
                        if (c0 + i < channels)
                        {
                            StoreImages(next, units, unitOf[i], image, batch, sums, i * ImagesPerThread, relu);
                        }
                    }

                    image += ImagesPerThread;
                }
                else
                {
                    StepOneImage(input, state, inputWeights, recurrentWeights, next, image, channels, height, width, kernel, relu, y, x, c0, lane, unitOf, starts);
                    image++;
                }
            }
        }
    }

    /// <summary>
    /// The four units of a streaming-step thread (channels c0 + i, clamped to the last, at position
    /// p) into unitOf, and their biases into starts.
    /// </summary>
    [DeviceFunction]
    public static void ThreadUnits(ReadOnlyView<float> bias, Span<int> unitOf, Span<float> starts, int c0, int channels, int positions, int p)
    {
        for (int i = 0; i < ChannelsPerThread; i++)
        {
            unitOf[i] = KernelMath.Min(c0 + i, channels - 1) * positions + p;
            starts[i] = bias[unitOf[i]];
        }
    }

    /// <summary>
    /// The streaming step for a batch of one image (or images one at a time): the same threads and
    /// loops as <see cref="RnnStepUnsharedStreaming"/> without its four-image pass, whose sixteen
    /// sums would hold this kernel's registers, and so its occupancy, at twice what one image needs.
    /// </summary>
    [Kernel]
    public static void RnnStepUnsharedOneImage(
        KernelThread thread, ReadOnlyView<float> input, ReadOnlyView<float> state, ReadOnlyView<float> inputWeights,
        ReadOnlyView<float> recurrentWeights, ReadOnlyView<float> bias, ReadWriteView<float> next,
        int batch, int channels, int height, int width, int kernel, bool relu)
    {
        int positions = height * width;
        int channelGroups = (channels + ChannelsPerThread - 1) / ChannelsPerThread;
        int index = thread.Global.X;
        if (index < channelGroups * positions)
        {
            int group = index / positions;
            int p = index - group * positions;
            int y = p / width;
            int x = p - y * width;
            int c0 = group * ChannelsPerThread;
            int lane = width % WeightLanes == 0 ? x % WeightLanes : 0;
            Span<int> unitOf = stackalloc int[ChannelsPerThread];
            Span<float> starts = stackalloc float[ChannelsPerThread];
            ThreadUnits(bias, unitOf, starts, c0, channels, positions, p);
            for (int image = 0; image < batch; image++)
            {
                StepOneImage(input, state, inputWeights, recurrentWeights, next, image, channels, height, width, kernel, relu, y, x, c0, lane, unitOf, starts);
            }
        }
    }

    /// <summary>
    /// One image's pass of the streaming step for the four units (unitOf: channels c0..c0+3, clamped
    /// to the last, at the same position; starts: their biases) of one thread: the lone image of a
    /// batch, and every image of <see cref="RnnStepUnsharedOneImage"/>.
    /// </summary>
    [DeviceFunction]
    public static void StepOneImage(
        ReadOnlyView<float> input, ReadOnlyView<float> state, ReadOnlyView<float> inputWeights, ReadOnlyView<float> recurrentWeights, ReadWriteView<float> next,
        int image, int channels, int height, int width, int kernel, bool relu, int y, int x, int c0, int lane, Span<int> unitOf, Span<float> starts)
    {
        int positions = height * width;
        int units = channels * positions;
        int taps = kernel * kernel;
        int lanes = width % WeightLanes == 0 ? WeightLanes : 1;
        Span<int> inputBases = stackalloc int[ChannelsPerThread];
        Span<int> recurrentBases = stackalloc int[ChannelsPerThread];
        Span<float> sums = stackalloc float[ChannelsPerThread];
        for (int i = 0; i < ChannelsPerThread; i++)
        {
            inputBases[i] = UnsharedWeightBase(unitOf[i], lane, InputChannels * taps);
            recurrentBases[i] = UnsharedWeightBase(unitOf[i], lane, channels * taps);
            sums[i] = starts[i];
        }

        int input0 = image * InputChannels * positions;
        int state0 = image * units;
        for (int t = 0; t < taps; t++)
        {
            int dy = t / kernel;
            int yy = y + dy - kernel / 2;
            int xx = x + t - dy * kernel - kernel / 2;
            if (yy >= 0 && yy < height && xx >= 0 && xx < width)
            {
                int window = yy * width + xx;
                for (int ci = 0; ci < InputChannels; ci++)
                {
                    int tap = (ci * taps + t) * lanes;
                    float value = input[input0 + ci * positions + window];
                    for (int i = 0; i < ChannelsPerThread; i++)
                    {
                        sums[i] += inputWeights[inputBases[i] + tap] * value;
                    }
                }

                for (int ci = 0; ci < channels; ci++)
                {
                    int tap = (ci * taps + t) * lanes;
                    float value = state[state0 + ci * positions + window];
                    for (int i = 0; i < ChannelsPerThread; i++)
                    {
                        sums[i] += recurrentWeights[recurrentBases[i] + tap] * value;
                    }
                }
            }
        }

        // Written out rather than as a loop over i: the loop form costs both kernels that inline
        // this 8 more registers on sm_80 (56, not 48) with NVRTC 11.8, though it unrolls to the same stores.
        next[image * units + unitOf[0]] = Phi(sums[0], relu);
        if (c0 + 1 < channels)
        {
            next[image * units + unitOf[1]] = Phi(sums[1], relu);
        }

        if (c0 + 2 < channels)
        {
            next[image * units + unitOf[2]] = Phi(sums[2], relu);
        }

        if (c0 + 3 < channels)
        {
            next[image * units + unitOf[3]] = Phi(sums[3], relu);
        }
    }

    /// <summary>Threads per group of the readout reductions (<see cref="RnnPoolChannels"/>, <see cref="RnnReadoutUnits"/>): a power of two.</summary>
    public const int ReduceGroupSize = 256;

    /// <summary>
    /// The pooled readout's first half: partial sums of the final state over positions, one group
    /// per (slice of positions: group X, image·C + channel: group Y), each thread striding over
    /// the slice (coalesced), then a group reduction. partial[(image·C + c)·slices + slice].
    /// Slices let a batch of one image still fill the device; <see cref="RnnReadoutPooled"/>
    /// adds them up. Launch with <see cref="ReduceGroupSize"/> threads.
    /// </summary>
    [Kernel]
    public static void RnnPoolChannels(KernelThread thread, ReadOnlyView<float> state, ReadWriteView<float> partial, int planes, int positions, int slices)
    {
        var shared = Group.Shared<float>(ReduceGroupSize);
        int slice = thread.Group.X;
        int plane = thread.Group.Y;
        int lane = thread.Local.X;
        int width = thread.GroupSize.X;
        if (plane < planes)
        {
            int length = (positions + slices - 1) / slices;
            int first = slice * length;
            int end = KernelMath.Min(first + length, positions);
            float sum = 0f;
            for (int p = first + lane; p < end; p += width)
            {
                sum += state[plane * positions + p];
            }

            float total = GroupReductions.GroupSum(shared, lane, width, sum);
            if (lane == 0)
            {
                partial[plane * slices + slice] = total;
            }
        }
    }

    /// <summary>
    /// The pooled readout's second half, one thread per (class: global X, image: Y):
    /// logits = bias + Σ_c weights[class][c] · (Σ_slices partial) / positions.
    /// </summary>
    [Kernel]
    public static void RnnReadoutPooled(
        KernelThread thread, ReadOnlyView<float> partial, ReadOnlyView<float> weights, ReadOnlyView<float> bias, ReadWriteView<float> logits,
        int batch, int channels, int positions, int classes, int slices)
    {
        int k = thread.Global.X;
        int image = thread.Global.Y;
        if (k < classes && image < batch)
        {
            float scale = 1f / (float)positions;
            float sum = 0f;
            for (int c = 0; c < channels; c++)
            {
                float channelSum = 0f;
                for (int s = 0; s < slices; s++)
                {
                    channelSum += partial[(image * channels + c) * slices + s];
                }

                sum += weights[k * channels + c] * (channelSum * scale);
            }

            logits[image * classes + k] = sum + bias[k];
        }
    }

    /// <summary>
    /// The per-unit readout, a matrix–vector product over all C·H·W units: one group per (slice
    /// of units: group X, class: Y, four images: Z), each thread striding over the slice (the
    /// weight row and the states coalesced, each weight read once per four images), four group
    /// reductions, partial[(image·classes + class)·slices + slice]. <see cref="RnnReadoutFinish"/>
    /// adds the slices and the bias. Launch with <see cref="ReduceGroupSize"/> threads.
    /// </summary>
    [Kernel]
    public static void RnnReadoutUnits(
        KernelThread thread, ReadOnlyView<float> state, ReadOnlyView<float> weights, ReadWriteView<float> partial,
        int batch, int units, int classes, int slices)
    {
        var shared = Group.Shared<float>(ReduceGroupSize);
        int slice = thread.Group.X;
        int k = thread.Group.Y;
        int image0 = thread.Group.Z * ImagesPerThread;
        int lane = thread.Local.X;
        int width = thread.GroupSize.X;
        if (k < classes && image0 < batch)
        {
            // images[j]: image0 + j, clamped to the last; sums[j] its partial sum.
            Span<int> images = stackalloc int[ImagesPerThread];
            Span<float> sums = stackalloc float[ImagesPerThread];
            for (int j = 0; j < ImagesPerThread; j++)
            {
                images[j] = KernelMath.Min(image0 + j, batch - 1);
            }

            int length = (units + slices - 1) / slices;
            int first = slice * length;
            int end = KernelMath.Min(first + length, units);
            for (int u = first + lane; u < end; u += width)
            {
                float w = weights[k * units + u];
                for (int j = 0; j < ImagesPerThread; j++)
                {
                    sums[j] += w * state[images[j] * units + u];
                }
            }

            for (int j = 0; j < ImagesPerThread; j++)
            {
                sums[j] = GroupReductions.GroupSum(shared, lane, width, sums[j]);
            }

            if (lane == 0)
            {
                for (int j = 0; j < ImagesPerThread; j++)
                {
                    if (image0 + j < batch)
                    {
                        partial[(images[j] * classes + k) * slices + slice] = sums[j];
                    }
                }
            }
        }
    }

    /// <summary>logits[image][class] = bias[class] + Σ_slices partial, one thread per (class: global X, image: Y).</summary>
    [Kernel]
    public static void RnnReadoutFinish(
        KernelThread thread, ReadOnlyView<float> partial, ReadOnlyView<float> bias, ReadWriteView<float> logits, int batch, int classes, int slices)
    {
        int k = thread.Global.X;
        int image = thread.Global.Y;
        if (k < classes && image < batch)
        {
            float sum = 0f;
            for (int s = 0; s < slices; s++)
            {
                sum += partial[(image * classes + k) * slices + s];
            }

            logits[image * classes + k] = sum + bias[k];
        }
    }
}
