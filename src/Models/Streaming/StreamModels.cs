using GpuViT.Kernels.Runtime;
using GpuViT.Models.Rnn;
using GpuViT.Models.Vit;

namespace GpuViT.Models.Streaming;

/// <summary>A <see cref="VitModel"/> as the stream runs it: images in, logits out.</summary>
public sealed class VitStreamModel(VitModel model) : IStreamModel
{
    public Device Device => model.Device;

    public int ValuesPerImage => model.Config.Channels * model.Config.ImageSize * model.Config.ImageSize;

    public int OutputsPerImage => model.Config.Classes;

    public long TokensPerImage => model.Config.Tokens;

    public long DeviceBytesPerImage => VitModel.ActivationBytesFor(model.Config, 1) + 2L * sizeof(float) * (ValuesPerImage + OutputsPerImage);

    public void Forward(DeviceView<float> images, DeviceView<float> outputs, int count, DeviceStream stream, CancellationToken cancel) =>
        model.Forward(images, outputs, count, stream, cancel);
}

/// <summary>A <see cref="DenseRnnModel"/> as the stream runs it: images in, logits out, so that it is timed end to end as the ViT is.</summary>
public sealed class RnnStreamModel(DenseRnnModel model) : IStreamModel
{
    public Device Device => model.Device;

    public int ValuesPerImage => DenseRnnConfig.InputChannels * model.Config.Positions;

    public int OutputsPerImage => model.Config.Classes;

    /// <summary>Its positions: what a step's work grows with, as the ViT's with its tokens.</summary>
    public long TokensPerImage => model.Config.Positions;

    /// <summary>The three state buffers' share, and the stream's two input and output slots.</summary>
    public long DeviceBytesPerImage => 3L * sizeof(float) * model.Config.Units + 2L * sizeof(float) * (ValuesPerImage + OutputsPerImage);

    public void Forward(DeviceView<float> images, DeviceView<float> outputs, int count, DeviceStream stream, CancellationToken cancel) =>
        model.Forward(images, outputs, count, stream, cancel);
}
