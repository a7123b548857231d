using GpuViT.Models.Rnn;
using Rnn = GpuViT.Kernels.Library.Rnn;

namespace GpuViT.Tests.Models;

/// <summary>
/// The obviously correct formulation, for tests on tiny sizes: the step as one dense matrix
/// M [C·H·W] × [C·H·W + 3·H·W] (columns: the state, then the image, both NCHW), built from the
/// weights tap by tap, and h ← φ(M·[h; x] + b) by plain loops in double precision.
/// </summary>
public static class DenseRnnReference
{
    public static double[,] StepMatrix(DenseRnnConfig config, DenseRnnWeights weights)
    {
        int s = config.ImageSize, c = config.Channels, k = config.Kernel, r = k / 2;
        int units = checked((int)config.Units), positions = config.Positions;
        var matrix = new double[units, units + DenseRnnConfig.InputChannels * positions];
        for (int oc = 0; oc < c; oc++)
        {
            for (int y = 0; y < s; y++)
            {
                for (int x = 0; x < s; x++)
                {
                    int unit = (oc * s + y) * s + x;
                    foreach (bool recurrent in new[] { false, true })
                    {
                        int channels = recurrent ? c : DenseRnnConfig.InputChannels;
                        int taps = channels * k * k;
                        float[] w = recurrent ? weights.RecurrentWeights : weights.InputWeights;
                        for (int ic = 0; ic < channels; ic++)
                        {
                            for (int dy = 0; dy < k; dy++)
                            {
                                for (int dx = 0; dx < k; dx++)
                                {
                                    int yy = y + dy - r, xx = x + dx - r;
                                    if (yy < 0 || yy >= s || xx < 0 || xx >= s)
                                    {
                                        continue;
                                    }

                                    int j = (ic * k + dy) * k + dx;
                                    float value = config.Shared ? w[oc * taps + j] : w[Rnn.UnsharedWeightIndex(oc * s + y, x, j, taps, s)];
                                    int column = recurrent ? (ic * s + yy) * s + xx : units + (ic * s + yy) * s + xx;
                                    matrix[unit, column] += value;
                                }
                            }
                        }
                    }
                }
            }
        }

        return matrix;
    }

    /// <summary>Logits [batch][classes] for images [batch][3][H][W].</summary>
    public static float[] Forward(DenseRnnConfig config, DenseRnnWeights weights, float[] images, int batch)
    {
        double[,] m = StepMatrix(config, weights);
        int units = (int)config.Units, inputs = DenseRnnConfig.InputChannels * config.Positions, classes = config.Classes;
        var logits = new float[batch * classes];
        for (int b = 0; b < batch; b++)
        {
            var h = new double[units];
            for (int t = 0; t < config.Steps; t++)
            {
                var next = new double[units];
                for (int u = 0; u < units; u++)
                {
                    double sum = config.Shared ? weights.Bias[u / config.Positions] : weights.Bias[u];
                    for (int v = 0; v < units; v++)
                    {
                        sum += m[u, v] * h[v];
                    }

                    for (int i = 0; i < inputs; i++)
                    {
                        sum += m[u, units + i] * images[b * inputs + i];
                    }

                    next[u] = config.Activation == RnnActivation.Relu ? Math.Max(sum, 0) : Math.Tanh(sum);
                }

                h = next;
            }

            for (int k = 0; k < classes; k++)
            {
                double sum = weights.ReadoutBias[k];
                if (config.Readout == RnnReadout.Pooled)
                {
                    for (int ch = 0; ch < config.Channels; ch++)
                    {
                        double mean = 0;
                        for (int p = 0; p < config.Positions; p++)
                        {
                            mean += h[ch * config.Positions + p];
                        }

                        sum += weights.ReadoutWeights[k * config.Channels + ch] * mean / config.Positions;
                    }
                }
                else
                {
                    for (int u = 0; u < units; u++)
                    {
                        sum += weights.ReadoutWeights[k * units + u] * h[u];
                    }
                }

                logits[b * classes + k] = (float)sum;
            }
        }

        return logits;
    }
}
