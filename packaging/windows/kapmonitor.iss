; Inno Setup 6 script for kapmonitor on Windows.
;
; Build on Windows after the PyInstaller bundle (see packaging/README.md):
;     pyinstaller --noconfirm --distpath packaging\dist --workpath packaging\build packaging\kapmonitor.spec
;     "C:\Program Files (x86)\Inno Setup 6\ISCC.exe" /DAppVersion=0.1.0 packaging\windows\kapmonitor.iss
; Output: packaging\dist\kapmonitor-<version>-setup.exe
;
; Installs per user by default (no administrator rights; %LOCALAPPDATA%\Programs\kapmonitor); the user
; may choose "all users" (Program Files). Recorded sessions live in %LOCALAPPDATA%\kapmonitor and are
; never removed by the uninstaller.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "kapmonitor"
#define BundleDir "..\dist\kapmonitor"

[Setup]
AppId={{6F2B3C1E-5A0D-4C8B-9D7E-4B1A2C3D5E6F}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=kapmonitor developers
AppComments=Bedside monitoring for ketamine-assisted psychotherapy sessions
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0.16299
OutputDir=..\dist
OutputBaseFilename={#AppName}-{#AppVersion}-setup
SetupIconFile=kapmonitor.ico
UninstallDisplayIcon={app}\kapmonitor.exe
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
CloseApplications=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; The whole one-folder bundle: kapmonitor.exe (window), kapmonitor-cli.exe (console) and _internal\.
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
Source: "..\..\docs\install.md"; DestDir: "{app}"; DestName: "INSTALL.md"; Flags: ignoreversion

[InstallDelete]
; An upgrade replaces the old bundle's files instead of leaving stale libraries beside the new ones.
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\kapmonitor.exe"; Comment: "Bedside session monitor"
Name: "{autoprograms}\{#AppName} self-test"; Filename: "{cmd}"; Parameters: "/k ""{app}\kapmonitor-cli.exe"" --self-test"; WorkingDir: "{app}"; Comment: "Check this installation"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\kapmonitor.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\kapmonitor.exe"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[Messages]
FinishedLabel=kapmonitor is installed.%n%nBefore the first session, pair each Bluetooth sensor in Windows: Settings > Bluetooth & devices > Add device (wear the strap so it advertises). Then choose it in kapmonitor's device panel.
