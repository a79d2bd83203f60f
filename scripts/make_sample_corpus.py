"""Write the sample corpus of Brightwater Analytics Ltd. (a fictional company) into data/sample/.

The text files (.md, .html, .eml, .csv) are committed as written; the binary ones (.pdf, .docx,
.pptx, .xlsx) are generated here from the text below so that their content is reviewable in git.

Usage:
    python scripts/make_sample_corpus.py            # writes data/sample/
    python scripts/make_sample_corpus.py OUT_DIR    # writes somewhere else

Needs the dev extra (reportlab) besides python-docx, python-pptx and openpyxl.
"""

from __future__ import annotations

import sys
from pathlib import Path

IT_SECURITY_PAGES: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "IT Security Policy",
        [
            (
                "Purpose and scope",
                "This policy applies to every employee, contractor and visitor who uses "
                "Brightwater Analytics systems. It is owned by the Chief Information Security Officer, "
                "Priya Raghunathan, and was last reviewed on 15 September 2025. Version 4.2 replaces "
                "version 4.1.",
            ),
            (
                "Passwords",
                "Passwords must be at least 14 characters long. Passwords are changed only "
                "when a compromise is suspected, not on a fixed schedule. Password managers are "
                "encouraged; the approved password manager is KeyVault Teams. Reusing a work password "
                "on any other site is a disciplinary matter.",
            ),
            (
                "Multi-factor authentication",
                "Multi-factor authentication with a hardware key "
                "(YubiKey 5 series) is required for the VPN, email and the HR system. A lost key must "
                "be reported to the IT helpdesk on the same day; a replacement key is issued within "
                "two working days.",
            ),
        ],
    ),
    (
        "Devices and data",
        [
            (
                "Laptops",
                "All company laptops use full-disk encryption: BitLocker on Windows and "
                "FileVault on macOS. Screens lock automatically after 5 minutes of inactivity. Laptops "
                "must not be left unattended in vehicles.",
            ),
            (
                "Removable media",
                "USB mass-storage devices are blocked on all company laptops. "
                "Exceptions require written approval from the CISO and expire after 30 days.",
            ),
            (
                "Data classification",
                "Information is classified into four levels: Public, Internal, "
                "Confidential and Restricted. Restricted data, such as client payroll files, may only be "
                "stored in the encrypted vault called StrongRoom and never sent by email.",
            ),
        ],
    ),
    (
        "Network and remote access",
        [
            (
                "VPN",
                "Remote access to internal systems is only allowed through the GlobalTunnel VPN. "
                "After 5 failed sign-in attempts the VPN account is locked and the client shows error "
                "code SEC-4012; the helpdesk can unlock it after verifying your identity.",
            ),
            (
                "Wi-Fi",
                "Company laptops connect only to the BW-Staff network in the office. Public "
                "Wi-Fi may be used only with the VPN switched on.",
            ),
            (
                "Patching",
                "Critical security patches must be installed within 72 hours of release; "
                "other patches within 14 days. Laptops that miss two patch cycles lose network access.",
            ),
        ],
    ),
    (
        "Incidents, backups and training",
        [
            (
                "Reporting incidents",
                "Suspected security incidents must be reported within 1 hour to "
                "security@brightwater.example or by phone on extension 4411, day or night.",
            ),
            (
                "Backups",
                "Servers are backed up every night at 01:00. Backups are retained for 35 days "
                "and a restore test is run on the first Monday of every quarter.",
            ),
            (
                "Training and phishing tests",
                "Every employee completes security awareness training "
                "within 30 days of joining and then once a year. Simulated phishing emails are sent "
                "quarterly; anyone who clicks a simulated phishing link twice in a year repeats the "
                "training.",
            ),
        ],
    ),
]

BENEFITS_SECTIONS: list[tuple[str, list[str]]] = [
    (
        "Pension",
        [
            "Brightwater Analytics pays an employer pension contribution of 7% of basic salary when the "
            "employee contributes at least 5%. The pension provider is Northgate Pensions.",
            "Employees are enrolled automatically after one month of service and can opt out within 30 days.",
        ],
    ),
    (
        "Health insurance",
        [
            "Private medical insurance is provided by Meridian Health and covers the employee, their "
            "partner and their children at no cost to the employee.",
            "The dental plan costs the employee £15 per month and covers two check-ups a year.",
        ],
    ),
    (
        "Other benefits",
        [
            "The cycle-to-work scheme lends up to £2,500 for a bicycle and equipment, repaid from gross "
            "salary over 12 months.",
            "Eye tests are reimbursed up to £60 every two years, and glasses needed for screen work up to "
            "£150.",
            "Life assurance pays four times annual basic salary.",
            "The Employee Assistance Programme is free and confidential: call 0800 555 0199 at any time.",
        ],
    ),
]

BENEFITS_TABLE = [
    ("Benefit", "Provider", "Employee cost"),
    ("Private medical insurance", "Meridian Health", "None"),
    ("Dental plan", "Meridian Dental", "£15 per month"),
    ("Gym discount", "FitHub", "30% off membership"),
    ("Life assurance", "Calder Life", "None"),
]

SLIDES: list[tuple[str, list[str]]] = [
    ("Brightwater Analytics: Company Overview 2026", ["Prepared by the People team, January 2026"]),
    (
        "Who we are",
        [
            "Founded in 2011 in Leeds by Marta Okafor",
            "We build forecasting software for ports and shipping companies",
            "205 employees at the end of 2025",
        ],
    ),
    (
        "Leadership team",
        [
            "Chief Executive Officer: Marta Okafor",
            "Chief Technology Officer: Dev Raman",
            "Chief Financial Officer: Ingrid Solberg",
            "Head of People: Tomasz Nowak",
        ],
    ),
    (
        "Our offices",
        [
            "Leeds (headquarters): 142 staff",
            "Rotterdam: 38 staff",
            "Austin: 25 staff",
        ],
    ),
    (
        "Products",
        [
            "TideCast: berth and tide forecasting platform, launched in 2016",
            "Harbor: data catalog for port operators, launched in 2023",
        ],
    ),
    (
        "2025 results",
        [
            "Revenue of £18.4 million, up 21% on 2024",
            "Customers in 14 countries",
            "Net promoter score of 61",
        ],
    ),
]

EXPENSE_LIMITS = [
    ("Category", "Limit", "Receipt required", "Notes"),
    ("Hotel in London", "£180 per night", "Yes", "Book through TravelDesk"),
    ("Hotel elsewhere in the UK", "£120 per night", "Yes", "Book through TravelDesk"),
    ("Hotel outside the UK", "€160 per night", "Yes", "Local taxes included"),
    ("Meals while travelling", "£45 per day", "Above £25", "Alcohol is not reimbursed"),
    ("Mileage in own car", "45p per mile", "Mileage log", "First 10,000 miles per tax year"),
    ("Taxi", "Actual cost", "Yes", "Only after 22:00 or when no public transport runs"),
    ("Flights", "Economy class", "Yes", "Premium economy allowed for flights over 6 hours"),
]

EXPENSE_APPROVALS = [
    ("Amount", "Approver", "Deadline"),
    ("Up to £500", "Line manager", "Claims within 30 days of spending"),
    ("£500 to £2,000", "Department head", "Claims within 30 days of spending"),
    ("Over £2,000", "Chief Financial Officer", "Pre-approval required before spending"),
]


def write_pdf(path: Path) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer

    styles = getSampleStyleSheet()
    story: list[object] = []
    for page_number, (heading, sections) in enumerate(IT_SECURITY_PAGES, start=1):
        story.append(Paragraph(heading, styles["Title"]))
        for title, body in sections:
            story.append(Paragraph(title, styles["Heading2"]))
            story.append(Paragraph(body, styles["BodyText"]))
            story.append(Spacer(1, 8))
        if page_number < len(IT_SECURITY_PAGES):
            story.append(PageBreak())
    doc = SimpleDocTemplate(
        str(path), pagesize=A4, title="IT Security Policy", author="Brightwater Analytics"
    )
    doc.build(story)  # type: ignore[arg-type]


def write_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    document.core_properties.title = "Employee Benefits Guide 2026"
    document.add_heading("Employee Benefits Guide 2026", level=0)
    for title, paragraphs in BENEFITS_SECTIONS:
        document.add_heading(title, level=1)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
    document.add_heading("Benefits at a glance", level=1)
    table = document.add_table(rows=0, cols=3)
    for row in BENEFITS_TABLE:
        cells = table.add_row().cells
        for cell, value in zip(cells, row, strict=True):
            cell.text = value
    document.save(str(path))


def write_pptx(path: Path) -> None:
    from pptx import Presentation

    presentation = Presentation()
    for index, (title, bullets) in enumerate(SLIDES):
        layout = presentation.slide_layouts[0 if index == 0 else 1]
        slide = presentation.slides.add_slide(layout)
        slide.shapes.title.text = title
        body = slide.placeholders[1].text_frame
        body.text = bullets[0]
        for bullet in bullets[1:]:
            body.add_paragraph().text = bullet
    presentation.save(str(path))


def write_xlsx(path: Path) -> None:
    import openpyxl

    workbook = openpyxl.Workbook()
    limits = workbook.active
    limits.title = "Limits"
    for row in EXPENSE_LIMITS:
        limits.append(row)
    approvals = workbook.create_sheet("Approvals")
    for row in EXPENSE_APPROVALS:
        approvals.append(row)
    workbook.save(str(path))


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_pdf(out_dir / "it_security_policy.pdf")
    write_docx(out_dir / "benefits_guide.docx")
    write_pptx(out_dir / "company_overview.pptx")
    write_xlsx(out_dir / "expense_policy.xlsx")
    print(f"wrote the binary sample documents to {out_dir}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent.parent / "data" / "sample")
