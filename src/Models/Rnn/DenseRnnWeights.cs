namespace GpuViT.Models.Rnn;

/// <summary>
/// The net's weights in the kernels' layouts. Unshared: W_in [C][H][W/8][3·k·k][8], W_rec
/// [C][H][W/8][C·k·k][8] (units blocked by eight along a row: one tap of eight neighbours is one
/// 32-byte sector; lanes of 1 when W is not a multiple of 8; see Rnn.UnsharedWeightIndex),
/// b [C][H][W]. Shared: W_in [C][3][k][k], W_rec [C][C][k][k], b [C]. Readout [classes][C] pooled
/// or [classes][C·H·W] per unit (NCHW order), and its bias [classes].
/// </summary>
public sealed record DenseRnnWeights(float[] InputWeights, float[] RecurrentWeights, float[] Bias, float[] ReadoutWeights, float[] ReadoutBias)
{
    public long ParameterCount => (long)InputWeights.Length + RecurrentWeights.Length + Bias.Length + ReadoutWeights.Length + ReadoutBias.Length;

    /// <summary>Uniform in ±1/√fan-in, as PyTorch initialises linear and conv layers.</summary>
    public static DenseRnnWeights RandomInit(DenseRnnConfig config, int seed)
    {
        var random = new Random(seed);
        float[] Uniform(long count, double fanIn)
        {
            float bound = (float)(1 / Math.Sqrt(fanIn));
            var values = new float[checked((int)count)];
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = (float)(random.NextDouble() * 2 - 1) * bound;
            }

            return values;
        }

        double stepFanIn = config.TapsPerUnit;
        double readoutFanIn = config.Readout == RnnReadout.Pooled ? config.Channels : config.Units;
        return new DenseRnnWeights(
            Uniform(config.InputWeightCount, stepFanIn),
            Uniform(config.RecurrentWeightCount, stepFanIn),
            Uniform(config.BiasCount, stepFanIn),
            Uniform(config.ReadoutParameterCount - config.Classes, readoutFanIn),
            Uniform(config.Classes, readoutFanIn));
    }

    /// <summary>Throws unless every tensor has the length the config says.</summary>
    public void Check(DenseRnnConfig config)
    {
        void Length(float[] values, long expected, string name)
        {
            if (values.Length != expected)
            {
                throw new DenseRnnConfigException($"{name} has {values.Length} values; {config} needs {expected}");
            }
        }

        Length(InputWeights, config.InputWeightCount, nameof(InputWeights));
        Length(RecurrentWeights, config.RecurrentWeightCount, nameof(RecurrentWeights));
        Length(Bias, config.BiasCount, nameof(Bias));
        Length(ReadoutWeights, config.ReadoutParameterCount - config.Classes, nameof(ReadoutWeights));
        Length(ReadoutBias, config.Classes, nameof(ReadoutBias));
    }
}
