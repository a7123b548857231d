using GpuViT.Bench;
using GpuViT.Models.Images;
using GpuViT.Models.Vit;

namespace GpuViT.Tests.Models;

/// <summary>
/// The bench's ONNX Runtime peer computes the model GpuViT does: the tiny fixture exported to
/// ONNX by make_vit_fixtures.py, run by <see cref="OnnxPeer"/> in process, gives the logits of
/// GpuViT on the cpu backend from the same weights in torchvision's layout, and PyTorch's.
/// </summary>
public sealed class OnnxPeerTests
{
    private static readonly string Fixtures = Path.Combine(AppContext.BaseDirectory, "fixtures");

    [Fact]
    public void Onnx_runtime_on_the_exported_fixture_matches_GpuViT_and_PyTorch()
    {
        NpyArray input = NpyFile.ReadFloat32(Path.Combine(Fixtures, "vit_fixture_tiny.input.npy"));
        float[] pytorch = NpyFile.ReadFloat32(Path.Combine(Fixtures, "vit_fixture_tiny.logits.npy")).Data;
        int batch = input.Shape[0];
        using var peer = new OnnxPeer(Path.Combine(Fixtures, "vit_fixture_tiny.onnx"), threads: 1);
        LoadedVit vit = VitWeightFiles.Load(Path.Combine(Fixtures, "vit_fixture_tiny.torchvision.safetensors"), hints: new VitConfigHints(Heads: 2));
        using Device device = Devices.Open("cpu").Device;
        using VitModel model = VitModel.Load(device, vit.Config, vit.Weights);

        float[] ort = peer.Run(input.Data, batch);
        float[] gpuvit = model.Forward(input.Data, batch);

        Assert.Equal((3, 32, 10), (peer.Channels, peer.ImageSize, peer.Classes));
        float bound = 1e-4f * pytorch.Max(MathF.Abs);
        Close.Elementwise(ort, gpuvit, relative: 0, absolute: bound, "logits (ONNX Runtime expected, GpuViT got)");
        Close.Elementwise(pytorch, ort, relative: 0, absolute: bound, "logits (PyTorch expected, ONNX Runtime got)");
    }

    [Fact]
    public void A_batch_that_does_not_fit_the_arrays_is_refused()
    {
        using var peer = new OnnxPeer(Path.Combine(Fixtures, "vit_fixture_tiny.onnx"), threads: 1);

        Assert.Throws<ArgumentException>(() => peer.Run(new float[3 * 32 * 32], batch: 2));
    }
}
