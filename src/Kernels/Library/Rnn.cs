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
        int lane = x % lanes;
        return (row * width + x - lane) * taps + j * lanes + lane;
    }

    /// <summary>Channels of the input image.</summary>
    public const int InputChannels = 3;

    /// <summary>Images one thread of <see cref="RnnStepUnshared"/> computes: each weight it loads serves them all.</summary>
    public const int ImagesPerThread = 4;

    /// <summary>
    /// One step of the unshared (locally connected) net for one unit of up to four images (global X:
    /// unit, Y: group of <see cref="ImagesPerThread"/> images): next = φ(W_in ⊛ input + W_rec ⊛ state + b),
    /// zero padding at the borders. Each weight is read once per four images, not once per image.
    /// A short last group repeats its last image and stores only the real ones.
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

            next[image0 * units + unit] = relu ? KernelMath.Max(sum0, 0f) : KernelMath.Tanh(sum0);
            if (image0 + 1 < batch)
            {
                next[image1 * units + unit] = relu ? KernelMath.Max(sum1, 0f) : KernelMath.Tanh(sum1);
            }

            if (image0 + 2 < batch)
            {
                next[image2 * units + unit] = relu ? KernelMath.Max(sum2, 0f) : KernelMath.Tanh(sum2);
            }

            if (image0 + 3 < batch)
            {
                next[image3 * units + unit] = relu ? KernelMath.Max(sum3, 0f) : KernelMath.Tanh(sum3);
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

            next[image * units + unit] = relu ? KernelMath.Max(sum, 0f) : KernelMath.Tanh(sum);
        }
    }

    /// <summary>
    /// The linear readout, one thread per (class: global X, image: Y). Pooled: the state's mean over
    /// positions, [C], times weights [classes][C]; per unit: all C·H·W values times [classes][C·H·W].
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
}
