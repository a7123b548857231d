using GpuViT.Kernels.Ops;

namespace GpuViT.Models.Rnn;

/// <summary>A dense RNN definition the model cannot run (or that does not fit): one line saying why.</summary>
public sealed class DenseRnnConfigException(string message) : ArgumentException(message);

public enum RnnActivation
{
    Tanh,
    Relu,
}

public enum RnnReadout
{
    /// <summary>The final state averaged over positions, [C], then a linear layer.</summary>
    Pooled,

    /// <summary>A linear layer from all C·H·W values of the final state.</summary>
    PerUnit,
}

/// <summary>
/// The dense whole-image recurrent net: C hidden channels at every pixel (C·H·W state values,
/// more than the image's 3·H·W), h₀ = 0, T steps of h ← φ(W_in ⊛ x + W_rec ⊛ h + b) over a k×k
/// neighbourhood with zero padding, then a linear readout. Unshared, every unit has its own
/// weights (locally connected: parameters grow with H·W); <see cref="Shared"/>, one set serves
/// every position (a convolutional RNN: the ablation that isolates weight sharing).
/// </summary>
public sealed record DenseRnnConfig(
    int ImageSize,
    int Channels = 8,
    int Kernel = 3,
    int Steps = 4,
    RnnActivation Activation = RnnActivation.Tanh,
    int Classes = 1000,
    RnnReadout Readout = RnnReadout.Pooled,
    bool Shared = false)
{
    public const int InputChannels = Kernels.Library.Rnn.InputChannels;

    public int Positions => ImageSize * ImageSize;

    /// <summary>Hidden units: C·H·W.</summary>
    public long Units => (long)Channels * Positions;

    /// <summary>Weights of one unit (or, shared, of one channel): k·k taps of 3 input and C hidden channels.</summary>
    public long TapsPerUnit => (long)(InputChannels + Channels) * Kernel * Kernel;

    /// <summary>Units that hold their own weights: all of them unshared, one per channel shared.</summary>
    public long WeightOwners => Shared ? Channels : Units;

    public long InputWeightCount => WeightOwners * InputChannels * Kernel * Kernel;

    public long RecurrentWeightCount => WeightOwners * Channels * Kernel * Kernel;

    public long BiasCount => WeightOwners;

    /// <summary>Parameters of the recurrent step: W_in, W_rec and b.</summary>
    public long StepParameterCount => InputWeightCount + RecurrentWeightCount + BiasCount;

    public long ReadoutParameterCount => (long)Classes * (Readout == RnnReadout.Pooled ? Channels : Units) + Classes;

    public long ParameterCount => StepParameterCount + ReadoutParameterCount;

    /// <summary>Bytes of the weights as float32.</summary>
    public long WeightBytes => ParameterCount * sizeof(float);

    public long StepWeightBytes => StepParameterCount * sizeof(float);

    /// <summary>
    /// FLOPs of one step for one image: 2 per multiply-add over every unit's full k×k
    /// neighbourhood of 3 + C channels (border taps on the zero padding included: the nominal
    /// count, the same with or without sharing).
    /// </summary>
    public long FlopsPerStep => 2 * Units * TapsPerUnit;

    /// <summary>The readout for one image: pooling adds (C·H·W) and the linear layer (2 per MAC).</summary>
    public long ReadoutFlops => Readout == RnnReadout.Pooled ? Units + 2L * Classes * Channels : 2L * Classes * Units;

    public long FlopsPerImage => Steps * FlopsPerStep + ReadoutFlops;

    /// <summary>
    /// Bytes one step must move per image with <paramref name="batch"/> images in a launch: the
    /// step's weights once per launch (shared across the batch, never across positions when
    /// unshared), divided by the batch, plus that image's input (3·H·W), state in and state out
    /// (C·H·W each): StepWeightBytes / batch + 4·(3·H·W + 2·C·H·W).
    /// </summary>
    public double BytesPerImagePerStep(int batch) => (double)StepWeightBytes / batch + 4.0 * (InputChannels * Positions + 2 * Units);

    /// <summary>Bytes per image of a whole forward pass: every step's, and its share of the readout's weights.</summary>
    public double BytesPerImage(int batch) => BytesPerImagePerStep(batch) * Steps + 4.0 * ReadoutParameterCount / batch;

    /// <summary>FLOPs per byte moved, for one step: FlopsPerStep / BytesPerImagePerStep(batch).</summary>
    public double ArithmeticIntensity(int batch) => FlopsPerStep / BytesPerImagePerStep(batch);

    /// <summary>
    /// Device memory a forward pass of <paramref name="batch"/> images needs: every weight, the
    /// images, three state buffers (zero, and the two it alternates between) and the logits.
    /// </summary>
    public long DeviceBytes(int batch) =>
        WeightBytes + 4L * batch * (InputChannels * (long)Positions + 3 * Units + Classes);

    /// <summary>Throws <see cref="DenseRnnConfigException"/> naming the first field that does not fit.</summary>
    public DenseRnnConfig Validate()
    {
        Positive(ImageSize, nameof(ImageSize));
        Positive(Steps, nameof(Steps));
        Positive(Classes, nameof(Classes));
        if (Channels <= InputChannels)
        {
            throw new DenseRnnConfigException($"Channels must be more than the image's {InputChannels} (a state larger than the image), not {Channels}");
        }

        if (Kernel < 1 || Kernel % 2 == 0)
        {
            throw new DenseRnnConfigException($"Kernel must be odd and positive (a centred neighbourhood), not {Kernel}");
        }

        if (Kernel > ImageSize)
        {
            throw new DenseRnnConfigException($"Kernel {Kernel} is larger than the image ({ImageSize})");
        }

        if (!Enum.IsDefined(Activation) || !Enum.IsDefined(Readout))
        {
            throw new DenseRnnConfigException($"unknown activation {Activation} or readout {Readout}");
        }

        // The kernels index with int.
        if (RecurrentWeightCount > int.MaxValue || (long)Classes * Units > int.MaxValue && Readout == RnnReadout.PerUnit)
        {
            throw new DenseRnnConfigException(
                $"dense-rnn at image {ImageSize} (C={Channels}, k={Kernel}) needs {RecurrentWeightCount:N0} recurrent weights ({Gib(RecurrentWeightCount * 4)}; {Gib(WeightBytes)} of weights in all): too many for 32-bit indexing");
        }

        return this;
    }

    /// <summary>Throws before any allocation when the weights and buffers do not fit the device, saying how much they need.</summary>
    public void RequireFits(Kernels.Runtime.DeviceInfo device, int batch)
    {
        long needed = DeviceBytes(batch);
        long largest = Math.Max(RecurrentWeightCount, Readout == RnnReadout.PerUnit ? (long)Classes * Units : 0) * sizeof(float);
        if (needed > device.MemoryBytes || largest > device.MaxAllocationBytes)
        {
            throw new DenseRnnConfigException(
                $"dense-rnn{(Shared ? "-shared" : "")} at image {ImageSize} (C={Channels}, k={Kernel}, batch {batch}) needs {Gib(needed)} of device memory ({Gib(WeightBytes)} of weights, largest tensor {Gib(largest)}); {device.Id} has {Gib(device.MemoryBytes)} (largest buffer {Gib(device.MaxAllocationBytes)})");
        }
    }

    internal static string Gib(long bytes) => bytes >= 1L << 30
        ? FormattableString.Invariant($"{bytes / (double)(1L << 30):F2} GiB")
        : FormattableString.Invariant($"{bytes / (double)(1 << 20):F1} MiB");

    private static void Positive(int value, string name)
    {
        if (value <= 0)
        {
            throw new DenseRnnConfigException($"{name} must be positive, not {value}");
        }
    }
}
