import Foundation

/// Lays out images in rows with a margin and a text label under each image,
/// e.g. a row of ground-truth images above rows of reconstructions.
///
///     var grid = ImageGrid(scale: 4)
///     grid.addRow(truth, labels: ["7", "2", "1"], title: "truth")
///     grid.addRow(reconstructed, labels: ["7", "2", "1"], title: "DLG")
///     try grid.writePNG(to: "grid.png")
///
/// Cells are as large as the largest (upscaled) image or label; smaller images
/// are centred. The output is RGB when any image is RGB, grayscale otherwise.
public struct ImageGrid: Sendable {
    /// One cell: an image and the label drawn under it.
    public struct Cell: Sendable {
        /// The image shown in the cell.
        public var image: PixelImage
        /// Text drawn under the image (may be empty).
        public var label: String
        /// Creates a cell.
        public init(image: PixelImage, label: String = "") {
            self.image = image
            self.label = label
        }
    }

    /// The rows, top to bottom.
    public private(set) var rows: [[Cell]] = []
    /// Optional title drawn left of each row.
    public private(set) var titles: [String] = []
    /// Nearest-neighbour upscaling factor applied to every image (≥ 1).
    public var scale: Int
    /// Margin in output pixels around and between cells.
    public var margin: Int
    /// Scale of the label font (1 = 5×7 pixels per character).
    public var fontScale: Int
    /// Background value in [0, 1] (1 = white); text is drawn in `1 - background`.
    public var background: Float

    /// Creates an empty grid.
    public init(scale: Int = 1, margin: Int = 4, fontScale: Int = 1, background: Float = 1) {
        self.scale = max(scale, 1)
        self.margin = max(margin, 0)
        self.fontScale = max(fontScale, 1)
        self.background = min(max(background, 0), 1)
    }

    /// Appends a row of images with optional labels (missing labels are blank) and an optional title.
    public mutating func addRow(_ images: [PixelImage], labels: [String] = [], title: String = "") {
        rows.append(images.enumerated().map { Cell(image: $0.element, label: $0.offset < labels.count ? labels[$0.offset] : "") })
        titles.append(title)
    }

    /// Appends a row of ready-made cells.
    public mutating func addRow(cells: [Cell], title: String = "") {
        rows.append(cells)
        titles.append(title)
    }

    /// Renders the grid into one image.
    ///
    /// - Throws: ``DataError/invalidArgument(_:)`` when the grid has no images.
    public func render() throws -> PixelImage {
        let cells = rows.flatMap { $0 }
        guard !cells.isEmpty else { throw DataError.invalidArgument("an image grid needs at least one image") }
        let channels = cells.contains { $0.image.channels == 3 } ? 3 : 1
        let textHeight = BitmapFont.glyphHeight * fontScale
        let hasLabels = cells.contains { !$0.label.isEmpty }
        let cellWidth = cells.map { max($0.image.width * scale, BitmapFont.width(of: $0.label, scale: fontScale)) }.max() ?? 1
        let imageHeight = cells.map { $0.image.height * scale }.max() ?? 1
        let labelBand = hasLabels ? textHeight + max(margin / 2, 1) : 0
        let cellHeight = imageHeight + labelBand
        let titleWidth = titles.map { BitmapFont.width(of: $0, scale: fontScale) }.max() ?? 0
        let titleBand = titleWidth > 0 ? titleWidth + margin : 0
        let columns = rows.map(\.count).max() ?? 1
        let width = margin + titleBand + columns * (cellWidth + margin)
        let height = margin + rows.count * (cellHeight + margin)
        var canvas = try PixelImage(width: width, height: height, channels: channels, filledWith: background)
        let ink = 1 - background
        let plane = width * height
        for (r, row) in rows.enumerated() {
            let top = margin + r * (cellHeight + margin)
            if r < titles.count, !titles[r].isEmpty {
                BitmapFont.draw(titles[r], into: &canvas, x: margin, y: top + max((imageHeight - textHeight) / 2, 0),
                                scale: fontScale, value: ink)
            }
            for (c, cell) in row.enumerated() {
                let left = margin + titleBand + c * (cellWidth + margin)
                let picture = try cell.image.upscaled(by: scale).converted(toChannels: channels)
                let ox = left + (cellWidth - picture.width) / 2
                let oy = top + (imageHeight - picture.height) / 2
                let source = picture.width * picture.height
                for ch in 0..<channels {
                    for y in 0..<picture.height {
                        for x in 0..<picture.width {
                            let value = picture.pixels[ch * source + y * picture.width + x]
                            canvas.pixels[ch * plane + (oy + y) * width + ox + x] = value.isNaN ? 0 : min(max(value, 0), 1)
                        }
                    }
                }
                if !cell.label.isEmpty {
                    let tx = left + (cellWidth - BitmapFont.width(of: cell.label, scale: fontScale)) / 2
                    BitmapFont.draw(cell.label, into: &canvas, x: tx, y: top + imageHeight + max(margin / 2, 1),
                                    scale: fontScale, value: ink)
                }
            }
        }
        return canvas
    }

    /// Renders the grid and writes it as a PNG.
    public func writePNG(to path: String) throws {
        try ImageCodec.writePNG(render(), to: path)
    }
}
