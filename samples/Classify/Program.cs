// Classifies images with a ViT on any device and prints each one's five most probable classes:
//   Classify WEIGHTS.safetensors IMAGE... [--device auto|cuda[:N]|opencl[:P.D]|cpu|emulator]
using GpuViT.Kernels.Runtime;
using GpuViT.Models.Images;
using GpuViT.Models.Vit;
using GpuViT.Models.Weights;

string selector = "auto";
var paths = new List<string>();
for (int i = 0; i < args.Length; i++)
{
    if (args[i] == "--device" && i + 1 < args.Length)
        selector = args[++i];
    else
        paths.Add(args[i]);
}

if (paths.Count < 2)
{
    Console.Error.WriteLine($"usage: Classify WEIGHTS.safetensors IMAGE... [--device D], D: {Devices.Selectors}");
    return 2;
}

try
{
    // The config (sizes, heads, classes, mean, std, class names) from the file's metadata and
    // shapes, and from a config.json beside it.
    LoadedVit vit = VitWeightFiles.Load(paths[0]);
    // The preprocessing the model was published with (timm's pretrained_cfg, a Hugging Face
    // preprocessor_config.json beside the weights, else timm's defaults).
    EvalTransform transform = PreprocessResolution.Resolve(vit, paths[0], new PreprocessHints()).Transform;
    // Checks that every image exists; each is decoded, resized and cropped by the transform when asked.
    ImageSource images = ImageSource.Open(paths[1..], transform: transform);

    DeviceSelection selection = Devices.Open(selector);
    if (selection.Reason is not null)
        Console.Error.WriteLine(selection.Reason); // what `auto` picked, and why
    // Disposing frees the device memory: the model's weights, then the device (after its model).
    using Device device = selection.Device;
    using VitModel model = VitModel.Load(device, vit.Config, vit.Weights);

    // All images in one forward pass, [N, 3, size, size] -> logits [N, classes].
    int size = vit.Config.ImageSize, pixels = 3 * size * size, classes = vit.Config.Classes;
    var batch = new float[images.Count * pixels];
    for (int i = 0; i < images.Count; i++)
        images.Decode(i, size, batch.AsSpan(i * pixels, pixels));
    float[] logits = model.Forward(batch, images.Count);

    for (int i = 0; i < images.Count; i++)
    {
        Console.WriteLine(images.Name(i));
        foreach (ClassScore c in Classification.TopK(logits.AsSpan(i * classes, classes), 5, vit.ClassNames))
            Console.WriteLine($"  {c.Probability,8:P2}  {c.Label ?? $"class {c.Index}"}");
    }

    return 0;
}
catch (Exception e) when (e is WeightsFormatException or InputException or DeviceUnavailableException)
{
    Console.Error.WriteLine($"Classify: {e.Message}"); // one line: what and where
    return 2;
}
